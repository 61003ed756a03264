from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import Organization


class SandboxState(models.TextChoices):
    RUNNING = "running", "running"
    PAUSED = "paused", "paused"


class SandboxRecordQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def live(self):
        return self.filter(gone_at__isnull=True)

    def record_listing(self, organization, sandboxes, complete, seen_at=None):
        """Write what one list fetch saw: seen sandboxes are updated or created; when the
        list was complete and unfiltered, records it no longer holds are marked gone.

        Two queries however many sandboxes there are.
        """
        seen_at = seen_at or timezone.now()
        records = [SandboxRecord.from_info(organization, info, seen_at) for info in sandboxes]
        if records:
            self.bulk_create(
                records,
                update_conflicts=True,
                unique_fields=["organization", "sandbox_id"],
                update_fields=[
                    "template_id",
                    "alias",
                    "state",
                    "started_at",
                    "end_at",
                    "cpu_count",
                    "memory_mb",
                    "metadata",
                    "last_seen",
                    "gone_at",
                ],
            )
        if complete:
            self.filter(organization=organization, gone_at__isnull=True).exclude(
                sandbox_id__in=[r.sandbox_id for r in records]
            ).update(gone_at=seen_at)

    def mark_gone(self, organization, sandbox_id, when=None):
        return self.filter(organization=organization, sandbox_id=sandbox_id, gone_at__isnull=True).update(
            gone_at=when or timezone.now()
        )


class SandboxRecord(models.Model):
    """The portal's last view of a sandbox it has listed; E2B stays the source of truth."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sandbox_records", verbose_name="organization"
    )
    sandbox_id = models.CharField("sandbox ID", max_length=100, db_index=True)
    template_id = models.CharField("template ID", max_length=255, blank=True)
    alias = models.CharField("template alias", max_length=255, blank=True)
    state = models.CharField("state", max_length=10, choices=SandboxState.choices)
    started_at = models.DateTimeField("started", null=True, blank=True)
    end_at = models.DateTimeField("ends", null=True, blank=True)
    cpu_count = models.PositiveIntegerField("CPU count", null=True, blank=True)
    memory_mb = models.PositiveIntegerField("memory (MB)", null=True, blank=True)
    metadata = models.JSONField("metadata", default=dict, blank=True)
    first_seen = models.DateTimeField("first seen", default=timezone.now)
    last_seen = models.DateTimeField("last seen", default=timezone.now)
    gone_at = models.DateTimeField("gone", null=True, blank=True)

    objects = SandboxRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "sandbox_id"]
        verbose_name = "sandbox record"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sandbox_id"],
                name="sandbox_record_unique_org_sandbox",
                violation_error_message="An organization has one record per sandbox ID.",
            ),
        ]

    def __str__(self):
        return f"{self.sandbox_id} ({self.organization_id})"

    @property
    def is_gone(self):
        return self.gone_at is not None

    @classmethod
    def from_info(cls, organization, info, seen_at):
        """A record from the SDK's SandboxInfo (or a SandboxDetail)."""
        alias = getattr(info, "name", None) or getattr(info, "alias", None)
        metadata = info.metadata if isinstance(info.metadata, dict) else {}
        return cls(
            organization=organization,
            sandbox_id=info.sandbox_id,
            template_id=info.template_id,
            alias=alias if isinstance(alias, str) else "",
            state=str(getattr(info.state, "value", info.state)),
            started_at=info.started_at,
            end_at=info.end_at,
            cpu_count=info.cpu_count,
            memory_mb=info.memory_mb,
            metadata=dict(metadata),
            first_seen=seen_at,
            last_seen=seen_at,
            gone_at=None,
        )


class CheckStatus(models.TextChoices):
    OK = "ok", "ok"
    FAILED = "failed", "failed"
    TIMEOUT = "timeout", "timeout"


class DiagnosticRun(models.Model):
    """One run of the troubleshooting checks inside a sandbox, kept with its results."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="diagnostic_runs", verbose_name="organization"
    )
    sandbox_id = models.CharField("sandbox ID", max_length=100)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="requested by",
    )
    created_at = models.DateTimeField("time", default=timezone.now)
    # [{check, command, exit_code, output, duration_ms, status}]
    results = models.JSONField("results", default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "diagnostic run"
        indexes = [models.Index(fields=["organization", "sandbox_id", "-created_at"], name="diagnostic_sandbox_time")]

    def __str__(self):
        return f"diagnostics of {self.sandbox_id} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def passed(self):
        return bool(self.results) and all(r["status"] == CheckStatus.OK for r in self.results)

    @property
    def failed_count(self):
        return sum(r["status"] != CheckStatus.OK for r in self.results)


class SyncSchedule(models.Model):
    """The one periodic sync chain: the task due at `next_run_at` is the live one, so a
    duplicate chain notices it is stale and stops."""

    next_run_at = models.DateTimeField("next run")
    last_run_at = models.DateTimeField("last run", null=True, blank=True)

    class Meta:
        verbose_name = "sandbox sync schedule"

    def __str__(self):
        return f"next sandbox sync {self.next_run_at:%Y-%m-%d %H:%M:%S}"
