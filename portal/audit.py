"""Writing audit events. Details carry identifiers and outcomes, never a secret."""

import ipaddress
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.models import AuditEvent


def client_ip(request):
    """The client's address. Behind TRUSTED_PROXY_COUNT proxies, each of which appends the
    address it was reached from to X-Forwarded-For, it is the Nth entry from the right;
    anything further left was written by the client and is not trusted."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                pass
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


# A page's own refreshes (HTMX polling) within this time are part of the visit already recorded.
STAFF_VIEW_QUIET = timedelta(minutes=5)


def record_staff_views(request, organizations, **details):
    """Platform staff read data of these organizations: one `staff.view` in each, at most
    one per person, organization and path every few minutes."""
    organizations = [org for org in organizations if org is not None]
    if not organizations:
        return
    path = request.path[:255]
    now = timezone.now()
    recent = set(
        AuditEvent.objects.filter(
            action="staff.view",
            actor_user=request.user,
            target=path,
            organization__in=organizations,
            created_at__gte=now - STAFF_VIEW_QUIET,
        ).values_list("organization_id", flat=True)
    )
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor_user=request.user,
                actor_label=request.user.email,
                organization=org,
                action="staff.view",
                target=path,
                details={"role": request.user.platform_role, **details},
                ip_address=client_ip(request),
                created_at=now,
            )
            for org in {org.pk: org for org in organizations}.values()
            if org.pk not in recent
        ]
    )
