"""Who may do what: every view states its access decision through one of these decorators.

A view without one is refused by AccessDecisionMiddleware, so a forgotten check fails
closed. Another organization's objects answer 404, never 403.
"""

import logging
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseForbidden

from portal.models import Organization, Role

log = logging.getLogger(__name__)

# Namespaces whose views decide access themselves (Django admin, the token-authenticated API).
SELF_GUARDED_NAMESPACES = {"admin", "api-1.0.0", "api"}


@dataclass(frozen=True)
class OrgAccess:
    """What the current user may do in the current organization."""

    role: str | None  # membership role, if a member
    platform_admin: bool
    support: bool

    @property
    def is_member(self):
        return self.role is not None

    @property
    def is_staff_view(self):
        """Platform staff looking at an organization they do not belong to."""
        return not self.is_member and (self.platform_admin or self.support)

    @property
    def can_manage(self):
        """E2B settings, keys, tokens, members, builds, template deletion."""
        return self.role == Role.ADMIN or self.platform_admin

    @property
    def can_operate(self):
        """Sandbox lifecycle: pause, resume, extend, kill."""
        return self.role in (Role.ADMIN, Role.MEMBER) or self.platform_admin

    @property
    def can_diagnose(self):
        """Diagnostics and smoke tests: everyone who can see the organization."""
        return True


CAPABILITIES = {"view", "manage", "operate", "diagnose"}


def access_for(user, organization):
    membership = organization.membership_for(user)
    return OrgAccess(
        role=membership.role if membership else None,
        platform_admin=user.is_platform_admin,
        support=user.is_support,
    )


def get_org_for_user(user, slug):
    """The organization with this slug if the user may see it, else 404."""
    try:
        return Organization.objects.for_user(user).get(slug=slug)
    except Organization.DoesNotExist:
        raise Http404("No such organization") from None


def _decided(view, decision):
    view.access_decision = decision
    return view


def public(view):
    return _decided(view, "public")


def signed_in(view):
    return _decided(login_required(view), "signed-in")


def platform_view():
    """Pages for platform staff: both roles read; only platform admins change anything."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_platform_staff:
                raise Http404
            if request.method not in ("GET", "HEAD") and not user.is_platform_admin:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return _decided(login_required(wrapped), "platform-staff")

    return decorator


def org_view(capability="view"):
    """Resolve `org_slug` from the URL into request.org and request.access, or 404.

    capability: "view" (read), "operate" (sandbox lifecycle), "manage" (org admin work),
    "diagnose" (diagnostics, smoke tests; support allowed). Support never changes
    anything else: any other non-read request from support is refused.
    """
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(request, org_slug, *args, **kwargs):
            from portal.audit import record_staff_views

            org = get_org_for_user(request.user, org_slug)
            access = access_for(request.user, org)
            request.org = org
            request.access = access
            writing = request.method not in ("GET", "HEAD")
            if capability == "manage" and not access.can_manage:
                raise PermissionDenied
            if capability == "operate" and not access.can_operate:
                raise PermissionDenied
            if writing and capability in ("view",) and not access.can_manage:
                raise PermissionDenied
            if writing and access.support and not access.is_member and capability != "diagnose":
                raise PermissionDenied
            if access.is_staff_view and not writing:
                record_staff_views(request, [org])
            return view(request, *args, **kwargs)

        return _decided(login_required(wrapped), f"org:{capability}")

    return decorator


class AccessDecisionMiddleware:
    """Refuses any view that does not declare its access decision."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "access_decision", None):
            return None
        match = request.resolver_match
        if match and SELF_GUARDED_NAMESPACES.intersection(match.namespaces):
            return None
        log.error("view %s has no access decision; refused", match.view_name if match else "?")
        return HttpResponseForbidden("This page has no access rule and is refused.")
