"""Pages of an organization's E2B connection: settings, API keys, the connection check, and
the portal's access tokens. Org admins change them; members and support read."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal import audit, e2b_services, tokens
from portal.access import org_view
from portal.crypto import SecretUnreadable
from portal.forms import AccessTokenCreateForm, E2BKeyAddForm, E2BSettingsForm
from portal.models import AccessToken, E2BApiKey, Organization

UNREADABLE_KEY_MESSAGE = (
    "The stored E2B key cannot be decrypted with the configured PORTAL_ENCRYPTION_KEYS. "
    "An operator must restore the encryption key that was used to store it."
)


@org_view("view")
def e2b_settings(request):
    org = request.org
    form = None
    if request.access.can_manage:
        form = E2BSettingsForm(instance=org)
    if request.method == "POST":
        if not request.access.can_manage:
            raise PermissionDenied
        previous = e2b_services.settings_snapshot(org)
        form = E2BSettingsForm(request.POST, instance=org)
        if form.is_valid():
            changes = e2b_services.save_settings(request, form.save(commit=False), previous)
            messages.success(request, "Saved the E2B settings." if changes else "Nothing changed.")
            if not request.htmx:
                return redirect("e2b_settings", org_slug=org.slug)
            form = E2BSettingsForm(instance=org)
        else:
            # The page around the form shows the stored values, not the rejected ones.
            request.org = org = Organization.objects.get(pk=org.pk)
    context = {"org": org, "form": form, "active_key": org.e2b_keys.active().first()}
    template = "portal/e2b_settings.html#settings" if request.htmx else "portal/e2b_settings.html"
    status = 422 if form is not None and form.is_bound and form.errors and request.htmx else 200
    return render(request, template, context, status=status)


def _render_keys(request, form=None, status=200):
    org = request.org
    context = {
        "org": org,
        "keys": org.e2b_keys.select_related("created_by"),
        "form": form or (E2BKeyAddForm() if request.access.can_manage else None),
    }
    template = "portal/e2b_keys.html#keys" if request.htmx else "portal/e2b_keys.html"
    return render(request, template, context, status=status)


@org_view("view")
def e2b_keys(request):
    if request.method == "POST":
        if not request.access.can_manage:
            raise PermissionDenied
        form = E2BKeyAddForm(request.POST)
        if not form.is_valid():
            return _render_keys(request, form, status=422 if request.htmx else 200)
        key = e2b_services.add_key(request, request.org, form.cleaned_data["label"], form.cleaned_data["key"])
        if key.is_active:
            messages.success(request, f"Added {key.label} ({key.masked}); it is the active key.")
        else:
            messages.success(
                request, f"Added {key.label} ({key.masked}). Make it active to use it, then revoke the old key."
            )
        if request.htmx:
            return _render_keys(request)
        return redirect("e2b_keys", org_slug=request.org.slug)
    return _render_keys(request)


def _get_key(request, key_id):
    return get_object_or_404(E2BApiKey, pk=key_id, organization=request.org)


@require_POST
@org_view("manage")
def e2b_key_activate(request, key_id):
    key = _get_key(request, key_id)
    try:
        e2b_services.activate_key(request, key)
        messages.success(request, f"{key.label} ({key.masked}) is now the active key.")
    except e2b_services.KeyRefused as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return _render_keys(request)
    return redirect("e2b_keys", org_slug=request.org.slug)


@require_POST
@org_view("manage")
def e2b_key_revoke(request, key_id):
    key = _get_key(request, key_id)
    try:
        e2b_services.revoke_key(request, key)
        messages.success(request, f"Revoked {key.label} ({key.masked}).")
    except e2b_services.KeyRefused as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return _render_keys(request)
    return redirect("e2b_keys", org_slug=request.org.slug)


@require_POST
@org_view("diagnose")
def e2b_check(request):
    org = request.org
    unreadable = False
    try:
        result = e2b_services.check_connection(request, org)
        if not request.htmx:
            level = messages.SUCCESS if result.ok else messages.ERROR
            messages.add_message(request, level, f"Connection check: {result.outcome}. {result.message}")
    except SecretUnreadable:
        unreadable = True
        messages.error(request, UNREADABLE_KEY_MESSAGE)
    if request.htmx:
        context = {"org": org, "check_error": UNREADABLE_KEY_MESSAGE if unreadable else ""}
        return render(request, "portal/_connection_status.html", context)
    page = "e2b_settings" if request.POST.get("next") == "settings" else "org_home"
    return redirect(page, org_slug=org.slug)


def _may_see_tokens(access):
    return access.can_manage or access.support


def _render_tokens(request, form=None, created=None, status=200):
    org = request.org
    context = {
        "org": org,
        "tokens": org.access_tokens.select_related("created_by"),
        "form": form or (AccessTokenCreateForm() if request.access.can_manage else None),
        "created": created,
        "now": timezone.now(),
    }
    template = "portal/access_tokens.html#tokens" if request.htmx else "portal/access_tokens.html"
    response = render(request, template, context, status=status)
    if created:
        response["Cache-Control"] = "no-store"
    return response


@never_cache
@org_view("view")
def access_tokens(request):
    if not _may_see_tokens(request.access):
        raise PermissionDenied
    if request.method != "POST":
        return _render_tokens(request)
    if not request.access.can_manage:
        raise PermissionDenied
    form = AccessTokenCreateForm(request.POST)
    if not form.is_valid():
        return _render_tokens(request, form, status=422 if request.htmx else 200)
    days = form.cleaned_data["expires_in_days"]
    token, raw = tokens.create_token(
        request.org,
        form.cleaned_data["name"],
        form.cleaned_data["scopes"],
        created_by=request.user,
        expires_at=timezone.now() + timedelta(days=days) if days else None,
    )
    audit.record(
        request,
        "access_token.create",
        request.org,
        target=f"{token.name} ({token.prefix})",
        details={
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        },
    )
    # Shown in this response only: never through the session's message store.
    return _render_tokens(request, created={"token": token, "secret": raw})


@require_POST
@org_view("manage")
def access_token_revoke(request, token_id):
    token = get_object_or_404(AccessToken, pk=token_id, organization=request.org)
    if not token.is_revoked:
        token.revoke()
        audit.record(
            request,
            "access_token.revoke",
            request.org,
            target=f"{token.name} ({token.prefix})",
            details={"prefix": token.prefix},
        )
    messages.success(request, f"Revoked the token {token.name} ({token.prefix}…).")
    if request.htmx:
        return _render_tokens(request)
    return redirect("access_tokens", org_slug=request.org.slug)
