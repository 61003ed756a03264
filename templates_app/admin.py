from django.contrib import admin

from templates_app.models import BuildLogLine, TemplateBuild


@admin.register(TemplateBuild)
class TemplateBuildAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "alias", "status", "requested_by_label", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["alias", "template_id", "build_id", "organization__slug"]
    raw_id_fields = ["organization", "requested_by"]
    readonly_fields = ["log_offset", "claimed_by", "heartbeat"]


@admin.register(BuildLogLine)
class BuildLogLineAdmin(admin.ModelAdmin):
    list_display = ["build", "seq", "time", "level", "step", "message"]
    list_filter = ["level"]
    raw_id_fields = ["build"]
