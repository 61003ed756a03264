from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.models import Organization


class BuildStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    BUILDING = "building", "building"
    READY = "ready", "ready"
    ERROR = "error", "error"
    CANCELLED = "cancelled", "cancelled"

    @classmethod
    def active(cls):
        return [cls.QUEUED, cls.BUILDING]


class LogLevel(models.TextChoices):
    DEBUG = "debug", "debug"
    INFO = "info", "info"
    WARN = "warn", "warn"
    ERROR = "error", "error"

    @classmethod
    def at_least(cls, level):
        """This level and the more severe ones."""
        values = cls.values
        return values[values.index(level) :] if level in values else values


def default_deadline():
    return timezone.now() + timedelta(minutes=settings.TEMPLATE_BUILD_DEADLINE_MINUTES)


class TemplateBuildQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def active(self):
        return self.filter(status__in=BuildStatus.active())

    def stale(self, now=None):
        """Active builds no live worker is following: never claimed, or silent too long."""
        now = now or timezone.now()
        stale = timedelta(seconds=settings.TEMPLATE_BUILD_STALE_SECONDS)
        # A build waiting for its task gets longer: a worker may be busy or still starting.
        waiting = now - stale * 4
        return self.active().filter(
            Q(claimed_by="", heartbeat__lt=waiting)
            | Q(claimed_by="", heartbeat__isnull=True, created_at__lt=waiting)
            | (~Q(claimed_by="") & Q(heartbeat__lt=now - stale))
        )


class TemplateBuild(models.Model):
    """One press of Build: an E2B template build the portal starts and follows."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="template_builds", verbose_name="organization"
    )
    alias = models.CharField("template alias", max_length=128)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="requested by",
    )
    requested_by_label = models.CharField("requested by (label)", max_length=254, blank=True)
    status = models.CharField("status", max_length=10, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    template_id = models.CharField("E2B template ID", max_length=128, blank=True)
    build_id = models.CharField("E2B build ID", max_length=128, blank=True)
    cpu_count = models.PositiveSmallIntegerField("CPU count")
    memory_mb = models.PositiveIntegerField("memory (MB)")
    skip_cache = models.BooleanField("skip cache", default=False)
    source_hash = models.CharField("template source hash", max_length=64, blank=True)
    step_total = models.PositiveIntegerField("number of steps", null=True, blank=True)
    current_step = models.CharField("current step", max_length=32, blank=True)

    created_at = models.DateTimeField("created", default=timezone.now, db_index=True)
    started_at = models.DateTimeField("started", null=True, blank=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)
    deadline = models.DateTimeField("deadline", default=default_deadline)
    error_reason = models.TextField("error reason", blank=True)
    error_step = models.CharField("failed step", max_length=32, blank=True)
    follow_problem = models.CharField(
        "following problem",
        max_length=500,
        blank=True,
        help_text="Why the last attempt to read the build from E2B failed; cleared on success.",
    )

    log_offset = models.PositiveIntegerField("E2B log entries consumed", default=0)
    claimed_by = models.CharField("followed by worker", max_length=64, blank=True)
    heartbeat = models.DateTimeField("worker heartbeat", null=True, blank=True)

    objects = TemplateBuildQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "template build"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "alias"],
                condition=Q(status__in=["queued", "building"]),
                name="template_build_one_active_per_alias",
                violation_error_message="A build of this template is already running.",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat"], name="template_build_status_beat")]

    def __str__(self):
        return f"{self.alias} #{self.pk} ({self.status})"

    @property
    def is_active(self):
        return self.status in BuildStatus.active()

    @property
    def elapsed(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def elapsed_text(self):
        elapsed = self.elapsed
        if elapsed is None:
            return ""
        seconds = int(elapsed.total_seconds())
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return f"{hours}h {minutes:02d}m {seconds:02d}s"
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"

    @property
    def step_progress(self):
        """"step 3 of 12" while the numbered steps run."""
        if self.status == BuildStatus.READY:
            return "done"
        step = self.current_step
        if step.isdigit() and self.step_total:
            return f"step {step} of {self.step_total}"
        if step == "base":
            return "preparing the base image"
        if step == "finalize":
            return "finalizing"
        return ""


class BuildLogLine(models.Model):
    build = models.ForeignKey(TemplateBuild, on_delete=models.CASCADE, related_name="lines", verbose_name="build")
    seq = models.PositiveIntegerField("sequence number")
    time = models.DateTimeField("time")
    level = models.CharField("level", max_length=5, choices=LogLevel.choices, default=LogLevel.INFO)
    step = models.CharField("step", max_length=32, blank=True)
    message = models.TextField("message")

    class Meta:
        ordering = ["build", "seq"]
        verbose_name = "build log line"
        constraints = [
            models.UniqueConstraint(
                fields=["build", "seq"],
                name="build_log_line_unique_seq",
                violation_error_message="A build has one log line per sequence number.",
            ),
        ]

    def __str__(self):
        return f"{self.seq} [{self.level}] {self.message[:60]}"

    def as_text(self):
        step = f" {self.step}:" if self.step else ""
        return f"{self.time.isoformat()} [{self.level}]{step} {self.message}"
