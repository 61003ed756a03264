from django.contrib import admin
from django.urls import include, path, re_path

from portal import e2b_views, views
from portal.api import api
from portal.api import not_found as api_not_found

org_patterns = [
    path("", views.org_home, name="org_home"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("audit/", views.org_audit, name="org_audit"),
    path("settings/e2b/", e2b_views.e2b_settings, name="e2b_settings"),
    path("settings/e2b/check/", e2b_views.e2b_check, name="e2b_check"),
    path("settings/e2b/keys/", e2b_views.e2b_keys, name="e2b_keys"),
    path("settings/e2b/keys/<int:key_id>/activate/", e2b_views.e2b_key_activate, name="e2b_key_activate"),
    path("settings/e2b/keys/<int:key_id>/revoke/", e2b_views.e2b_key_revoke, name="e2b_key_revoke"),
    path("settings/tokens/", e2b_views.access_tokens, name="access_tokens"),
    path("settings/tokens/<int:token_id>/revoke/", e2b_views.access_token_revoke, name="access_token_revoke"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("password/done/", views.password_change_done, name="password_change_done"),
    path("orgs/", views.org_list, name="org_list"),
    path("orgs/<slug:org_slug>/", include(org_patterns)),
    path("platform/orgs/", views.platform_orgs, name="platform_orgs"),
    path("platform/audit/", views.platform_audit, name="platform_audit"),
    path("", include("sandboxes.urls")),
    path("", include("templates_app.urls")),
    path("api/v1/", api.urls),
    re_path(r"^api/v1/", api_not_found, name="api_not_found"),
    path("admin/", admin.site.urls),
]
