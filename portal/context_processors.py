from portal.models import Organization


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_orgs": Organization.objects.for_user(user).only("name", "slug").order_by("name"),
        "current_org": getattr(request, "org", None),
        "current_access": getattr(request, "access", None),
    }
