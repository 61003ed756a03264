from django.urls import path

from templates_app import views

urlpatterns = [
    path("orgs/<slug:org_slug>/builds/", views.build_list, name="build_list"),
    path("orgs/<slug:org_slug>/builds/start/", views.build_start, name="build_start"),
    path("orgs/<slug:org_slug>/builds/<int:build_id>/", views.build_detail, name="build_detail"),
    path("orgs/<slug:org_slug>/builds/<int:build_id>/log.txt", views.build_log_download, name="build_log_download"),
    path("orgs/<slug:org_slug>/builds/<int:build_id>/cancel/", views.build_cancel, name="build_cancel"),
    path("orgs/<slug:org_slug>/templates/", views.template_list, name="template_list"),
    path(
        "orgs/<slug:org_slug>/templates/<str:template_id>/delete/", views.template_delete, name="template_delete"
    ),
    path("platform/builds/", views.platform_builds, name="platform_builds"),
]
