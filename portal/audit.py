"""Writing audit events. Details carry identifiers and outcomes, never a secret."""

from portal.models import AuditEvent


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


def record(request, action, organization=None, target="", details=None, token=None):
    user = None
    if request is not None and getattr(request, "user", None) and request.user.is_authenticated:
        user = request.user
    if token is not None:
        label = f"token {token.prefix}"
    elif user is not None:
        label = user.email
    else:
        label = "system"
    return AuditEvent.objects.create(
        actor_user=user,
        actor_token=token,
        actor_label=label,
        organization=organization,
        action=action,
        target=str(target)[:255],
        details=details or {},
        ip_address=client_ip(request) if request is not None else None,
    )


def record_staff_view(request, organization):
    """A platform admin or support person opened a page of an organization not their own."""
    return record(
        request,
        "staff.view",
        organization=organization,
        target=request.path[:255],
        details={"role": request.user.platform_role},
    )
