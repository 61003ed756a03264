from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models

from portal import audit
from portal.models import AccessToken, AuditEvent, E2BApiKey, Membership, Organization, User


def _platform_admin_only(request):
    return request.user.is_active and request.user.is_staff and request.user.is_platform_admin


admin.site.has_permission = _platform_admin_only
admin.site.site_header = "Sandbox Portal administration"


def _organization_of(obj):
    if isinstance(obj, Organization):
        return obj
    return getattr(obj, "organization", None)


class AuditedAdmin(admin.ModelAdmin):
    """Changes made in the Django admin reach the audit log like any other change."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(
            request,
            f"admin.{'change' if change else 'add'}",
            _organization_of(obj),
            target=f"{obj._meta.model_name} {obj.pk}",
            details={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        target = f"{obj._meta.model_name} {obj.pk}"
        organization = _organization_of(obj)
        super().delete_model(request, obj)
        if not isinstance(obj, Organization):
            audit.record(request, "admin.delete", organization, target=target)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        changes = [("admin.add", obj) for obj in formset.new_objects]
        changes += [("admin.change", obj) for obj, _ in formset.changed_objects]
        changes += [("admin.delete", obj) for obj in formset.deleted_objects]
        for action, obj in changes:
            audit.record(request, action, _organization_of(obj), target=f"{obj._meta.model_name} {obj.pk}")


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "platform_role", "is_active", "last_login"]
    list_filter = ["platform_role", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["first_name", "last_name"]}),
        ("Access", {"fields": ["platform_role", "is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "slug", "provider", "e2b_domain", "last_check_outcome"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(E2BApiKey)
class E2BApiKeyAdmin(AuditedAdmin):
    list_display = ["label", "organization", "masked", "is_active", "created_at", "revoked_at"]
    list_filter = ["is_active"]
    exclude = ["ciphertext"]
    readonly_fields = ["last_four", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # keys are added through the organization's settings page, encrypted


@admin.register(AccessToken)
class AccessTokenAdmin(AuditedAdmin):
    list_display = ["name", "organization", "prefix", "created_at", "expires_at", "revoked_at"]
    exclude = ["secret_hash"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "organization", "action", "target"]
    list_filter = ["action"]
    search_fields = ["actor_label", "target", "action"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the log is what tenants rely on: nobody edits or removes it
