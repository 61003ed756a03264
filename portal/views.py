from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import services
from portal.access import org_view, platform_view, public, signed_in
from portal.audit import record_staff_views
from portal.forms import AuditFilterForm, MemberAddForm, OrganizationCreateForm, RoleForm
from portal.models import AuditEvent, Membership, Organization

login = public(auth_views.LoginView.as_view(redirect_authenticated_user=True))
logout = public(auth_views.LogoutView.as_view())
password_change = signed_in(auth_views.PasswordChangeView.as_view())
password_change_done = signed_in(auth_views.PasswordChangeDoneView.as_view())


@signed_in
def home(request):
    orgs = list(Organization.objects.for_user(request.user)[:2])
    if len(orgs) == 1 and not request.user.is_platform_staff:
        return redirect("org_home", org_slug=orgs[0].slug)
    return redirect("org_list")


@signed_in
def org_list(request):
    orgs = Organization.objects.for_user(request.user).order_by("name")
    return render(request, "portal/org_list.html", {"orgs": orgs})


@org_view("view")
def org_home(request):
    org = request.org
    context = {
        "org": org,
        "active_key": org.e2b_keys.active().first() if request.access.can_manage or request.access.support else None,
        "member_count": org.memberships.count(),
    }
    return render(request, "portal/org_home.html", context)


def _members_context(request, form=None, account=None):
    org = request.org
    return {
        "org": org,
        "memberships": org.memberships.select_related("user"),
        "form": form or MemberAddForm(organization=org),
        "role_choices": RoleForm.base_fields["role"].choices,
        "account": account,
    }


def _render_members(request, form=None, status=200, account=None):
    template = "portal/members.html#members" if request.htmx else "portal/members.html"
    response = render(request, template, _members_context(request, form, account), status=status)
    if account:
        response["Cache-Control"] = "no-store"
    return response


@org_view("view")
def members(request):
    if request.method == "POST":
        if not request.access.can_manage:
            return HttpResponse(status=403)
        form = MemberAddForm(request.POST, organization=request.org)
        if not form.is_valid():
            return _render_members(request, form, status=422 if request.htmx else 200)
        membership, password = services.add_member(
            request, request.org, form.cleaned_data["email"], form.cleaned_data["role"]
        )
        if password:
            # Shown in this response only: never through messages, which a cookie may carry.
            return _render_members(request, account={"email": membership.user.email, "password": password})
        messages.success(request, f"Added {membership.user.email}.")
        if request.htmx:
            return _render_members(request)
        return redirect("members", org_slug=request.org.slug)
    return _render_members(request)


def _get_membership(request, membership_id):
    return get_object_or_404(Membership, pk=membership_id, organization=request.org)


@require_POST
@org_view("manage")
def member_role(request, membership_id):
    membership = _get_membership(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: admin or member.")
    else:
        try:
            services.change_role(request, membership, form.cleaned_data["role"])
            messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
        except services.LastAdminError as exc:
            messages.error(request, exc.message)
    if request.htmx:
        return _render_members(request)
    return redirect("members", org_slug=request.org.slug)


@require_POST
@org_view("manage")
def member_remove(request, membership_id):
    membership = _get_membership(request, membership_id)
    try:
        services.remove_member(request, membership)
        messages.success(request, f"Removed {membership.user.email}.")
    except services.LastAdminError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return _render_members(request)
    return redirect("members", org_slug=request.org.slug)


def _audit_page(request, events):
    form = AuditFilterForm(request.GET or None)
    if form.is_valid():
        if form.cleaned_data["action"]:
            events = events.filter(action__icontains=form.cleaned_data["action"])
        if form.cleaned_data["actor"]:
            events = events.filter(actor_label__icontains=form.cleaned_data["actor"])
    page = Paginator(events.select_related("organization"), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {"form": form, "page": page, "query": query.urlencode()}


@org_view("manage")
def org_audit(request):
    context = _audit_page(request, AuditEvent.objects.for_organization(request.org))
    context["org"] = request.org
    template = "portal/audit.html#events" if request.htmx else "portal/audit.html"
    return render(request, template, context)


@platform_view()
def platform_audit(request):
    context = _audit_page(request, AuditEvent.objects.all())
    record_staff_views(request, [event.organization for event in context["page"]], page="audit log")
    template = "portal/audit.html#events" if request.htmx else "portal/audit.html"
    return render(request, template, context)


@platform_view()
def platform_orgs(request):
    form = account = None
    if request.method == "POST":
        form = OrganizationCreateForm(request.POST)
        if form.is_valid():
            org, password = services.create_organization(
                request,
                form.cleaned_data["name"],
                form.cleaned_data["slug"],
                form.cleaned_data["admin_email"],
            )
            if not password:
                messages.success(request, f"Created {org.name}.")
                return redirect("org_home", org_slug=org.slug)
            account = {"email": form.cleaned_data["admin_email"], "password": password, "org": org}
            form = None
    orgs = Organization.objects.order_by("name")
    response = render(
        request,
        "portal/platform_orgs.html",
        {
            "orgs": orgs,
            "form": form or OrganizationCreateForm(),
            "can_create": request.user.is_platform_admin,
            "account": account,
        },
    )
    if account:
        response["Cache-Control"] = "no-store"
    return response


