from django.urls import path

from sandboxes import views

urlpatterns = [
    path("orgs/<slug:org_slug>/sandboxes/", views.sandbox_list, name="sandbox_list"),
    path("orgs/<slug:org_slug>/sandboxes/smoke-test/", views.smoke_test, name="smoke_test"),
    path("orgs/<slug:org_slug>/sandboxes/<str:sandbox_id>/", views.sandbox_detail, name="sandbox_detail"),
    path(
        "orgs/<slug:org_slug>/sandboxes/<str:sandbox_id>/diagnostics/",
        views.sandbox_diagnostics,
        name="sandbox_diagnostics",
    ),
    path(
        "orgs/<slug:org_slug>/sandboxes/<str:sandbox_id>/<str:action>/",
        views.sandbox_action,
        name="sandbox_action",
    ),
    path("platform/sandboxes/", views.platform_sandboxes, name="platform_sandboxes"),
]
