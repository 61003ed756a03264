import re

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify


class PlatformRole(models.TextChoices):
    NONE = "", "None"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    SUPPORT = "support", "Support"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("platform_role", PlatformRole.PLATFORM_ADMIN)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who logs in with an email address."""

    username = None
    email = models.EmailField("email address", unique=True)
    platform_role = models.CharField(
        "platform role", max_length=20, choices=PlatformRole.choices, blank=True, default=""
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    @property
    def is_platform_admin(self):
        return self.platform_role == PlatformRole.PLATFORM_ADMIN

    @property
    def is_support(self):
        return self.platform_role == PlatformRole.SUPPORT

    @property
    def is_platform_staff(self):
        """Sees every organization: platform admins and support."""
        return self.platform_role in (PlatformRole.PLATFORM_ADMIN, PlatformRole.SUPPORT)


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Provider(models.TextChoices):
    E2B = "e2b", "E2B"
    MODAL = "modal", "Modal"


slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)
hostname_validator = RegexValidator(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$",
    "Enter a bare hostname such as e2b.company.com: no scheme, port, path or spaces.",
    flags=re.IGNORECASE,
)
template_alias_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,127}$",
    "Use lowercase letters, digits, hyphens and underscores, starting with a letter or digit "
    "(at most 128 characters).",
)


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user):
        """The organizations a user may see: all for platform staff, else their own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_platform_staff:
            return self.all()
        return self.filter(memberships__user=user).distinct()

    def on_e2b(self):
        """Organizations whose sandboxes live on E2B: the runtime's provider is E2B, or an
        active E2B key is stored (keys come first when an organization moves to E2B)."""
        return self.filter(Q(provider=Provider.E2B) | Q(e2b_keys__is_active=True)).distinct()


class Organization(models.Model):
    """A tenant: its own E2B domain, keys, members, builds and sandboxes."""

    name = models.CharField("name", max_length=100)
    slug = models.SlugField("slug", max_length=50, unique=True, validators=[slug_validator])
    created_at = models.DateTimeField("created", default=timezone.now)

    provider = models.CharField(
        "sandbox provider",
        max_length=10,
        choices=Provider.choices,
        default=Provider.MODAL,
        help_text="DEFAULT_SANDBOX_PROVIDER for this organization's runtime.",
    )
    e2b_domain = models.CharField(
        "E2B domain",
        max_length=253,
        blank=True,
        validators=[hostname_validator],
        help_text="Blank for E2B Cloud, else your self-hosted domain, e.g. e2b.company.com.",
    )
    api_url = models.URLField(
        "API URL override",
        blank=True,
        help_text="Only for a non-standard gateway or a local backend; default https://api.<domain>.",
    )
    sandbox_url = models.URLField(
        "sandbox URL override",
        blank=True,
        help_text="Only for a non-standard gateway or a local backend.",
    )
    template_alias = models.CharField(
        "template alias",
        max_length=128,
        validators=[template_alias_validator],
        help_text="E2B_TEMPLATE_ALIAS: the name builds are given.",
    )
    template_cpu_count = models.PositiveSmallIntegerField(
        "template CPU count", default=4, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    template_memory_mb = models.PositiveIntegerField(
        "template memory (MB)",
        default=8192,
        validators=[MinValueValidator(512), MaxValueValidator(262144)],
    )
    runtime_template = models.CharField(
        "runtime template",
        max_length=255,
        blank=True,
        help_text="E2B_TEMPLATE: the template sandboxes are created from; set by a ready build.",
    )

    last_check_outcome = models.CharField("last check outcome", max_length=20, blank=True)
    last_check_latency_ms = models.PositiveIntegerField("last check latency (ms)", null=True, blank=True)
    last_check_message = models.CharField("last check message", max_length=500, blank=True)
    last_check_at = models.DateTimeField("last checked", null=True, blank=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "organization"

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.template_alias:
            self.template_alias = default_template_alias(self.slug)
        super().save(*args, **kwargs)

    def membership_for(self, user):
        return self.memberships.filter(user=user).first()

    @property
    def e2b_template(self):
        """E2B_TEMPLATE of the runtime configuration."""
        return self.runtime_template or self.template_alias


def default_template_alias(slug):
    return slugify(f"{slug}-sandbox")[:128] or "sandbox"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name="user"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", verbose_name="organization"
    )
    role = models.CharField("role", max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField("added", default=timezone.now)

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"],
                name="membership_unique_user_organization",
                violation_error_message="This person is already a member of the organization.",
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class E2BApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True, revoked_at__isnull=True)


class E2BApiKey(models.Model):
    """An organization's E2B team API key, encrypted at rest."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="e2b_keys", verbose_name="organization"
    )
    label = models.CharField("label", max_length=100)
    ciphertext = models.TextField("ciphertext")
    last_four = models.CharField("last four characters", max_length=4)
    is_active = models.BooleanField("active", default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField("created", default=timezone.now)
    last_used_at = models.DateTimeField("last used", null=True, blank=True)
    revoked_at = models.DateTimeField("revoked", null=True, blank=True)

    objects = E2BApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "E2B API key"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_active=True),
                name="e2b_key_one_active_per_organization",
                violation_error_message="An organization has exactly one active E2B key.",
            ),
            models.CheckConstraint(
                condition=~(Q(is_active=True) & Q(revoked_at__isnull=False)),
                name="e2b_key_revoked_is_not_active",
                violation_error_message="A revoked key cannot be active.",
            ),
        ]

    def __str__(self):
        return f"{self.label} ({self.masked})"

    @property
    def masked(self):
        return f"e2b_…{self.last_four}"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def set_secret(self, plaintext):
        from portal.crypto import encrypt

        self.ciphertext = encrypt(plaintext)
        self.last_four = plaintext[-4:]

    def secret(self):
        from portal.crypto import decrypt

        return decrypt(self.ciphertext)


class AccessTokenScope(models.TextChoices):
    READ = "read", "read"
    BUILDS = "builds", "builds"
    SANDBOXES = "sandboxes", "sandboxes"
    RUNTIME_CONFIG = "runtime-config", "runtime-config"


class AccessToken(models.Model):
    """The portal's own API credential: a lookup prefix and a keyed hash of the secret."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="access_tokens", verbose_name="organization"
    )
    name = models.CharField("name", max_length=100)
    prefix = models.CharField("prefix", max_length=16, unique=True)
    secret_hash = models.CharField("secret hash", max_length=64)
    scopes = models.JSONField("scopes", default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField("created", default=timezone.now)
    expires_at = models.DateTimeField("expires", null=True, blank=True)
    last_used_at = models.DateTimeField("last used", null=True, blank=True)
    revoked_at = models.DateTimeField("revoked", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "access token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def is_usable(self):
        return not self.is_revoked and not self.is_expired

    def has_scope(self, scope):
        return scope in self.scopes

    def touch(self, now=None):
        """Record a use, writing at most once a minute per token."""
        from portal.tokens import LAST_USED_RESOLUTION

        now = now or timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_RESOLUTION:
            return
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        AccessToken.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        self.last_used_at = now

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class AuditEventQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)


class AuditEvent(models.Model):
    """Who did what, where. Details never hold a secret."""

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="user",
    )
    actor_token = models.ForeignKey(
        AccessToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="access token",
    )
    actor_label = models.CharField("actor", max_length=254, blank=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name="organization",
    )
    action = models.CharField("action", max_length=64, db_index=True)
    target = models.CharField("target", max_length=255, blank=True)
    details = models.JSONField("details", default=dict, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    created_at = models.DateTimeField("time", default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit event"
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"

    def clean(self):
        if self.actor_user_id and self.actor_token_id:
            raise ValidationError("An event has one actor: a user or an access token.")
