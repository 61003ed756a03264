from django.contrib import admin

from sandboxes.models import DiagnosticRun, SandboxRecord, SyncSchedule


@admin.register(SandboxRecord)
class SandboxRecordAdmin(admin.ModelAdmin):
    list_display = ["sandbox_id", "organization", "state", "template_id", "last_seen", "gone_at"]
    list_filter = ["state", "organization"]
    search_fields = ["sandbox_id", "template_id", "alias"]
    readonly_fields = [f.name for f in SandboxRecord._meta.fields]


@admin.register(DiagnosticRun)
class DiagnosticRunAdmin(admin.ModelAdmin):
    list_display = ["sandbox_id", "organization", "created_at", "requested_by"]
    list_filter = ["organization"]
    search_fields = ["sandbox_id"]
    readonly_fields = [f.name for f in DiagnosticRun._meta.fields]


admin.site.register(SyncSchedule)
