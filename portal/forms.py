from django import forms
from django.core.validators import URLValidator

from portal.models import (
    AccessTokenScope,
    Membership,
    Organization,
    Provider,
    Role,
    default_template_alias,
    slug_validator,
)


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if Membership.objects.filter(organization=self.organization, user__email__iexact=email).exists():
            raise forms.ValidationError("This person is already a member.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    slug = forms.CharField(
        label="Slug",
        max_length=50,
        validators=[slug_validator],
        help_text="Used in addresses: lowercase letters, digits and hyphens.",
    )
    admin_email = forms.EmailField(
        label="First admin's email",
        help_text="An existing user, or a new account with a one-time password.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        return name

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if Organization.objects.filter(slug=slug).exists():
            raise forms.ValidationError("An organization with this slug exists already.")
        return slug


class AuditFilterForm(forms.Form):
    action = forms.CharField(label="Action", required=False, max_length=64)
    actor = forms.CharField(label="Actor", required=False, max_length=254)


def _bounded_int(label, low, high, unit):
    allowed = f"Enter a whole number of {unit} from {low} to {high}."
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        help_text=f"{low} to {high}.",
        error_messages={"invalid": allowed, "min_value": allowed, "max_value": allowed, "required": allowed},
    )


ABSOLUTE_URL = "Enter an absolute http:// or https:// URL (at most 200 characters), or leave it blank."


def _absolute_url(label, help_text):
    return forms.CharField(
        label=label,
        required=False,
        max_length=200,
        help_text=help_text,
        validators=[URLValidator(schemes=["http", "https"], message=ABSOLUTE_URL)],
        error_messages={"max_length": ABSOLUTE_URL},
    )


class E2BSettingsForm(forms.ModelForm):
    """An organization's E2B connection; every invalid value says what is allowed."""

    provider = forms.ChoiceField(
        label="Sandbox provider",
        choices=Provider.choices,
        help_text="DEFAULT_SANDBOX_PROVIDER of this organization's runtime.",
        error_messages={"invalid_choice": "Choose e2b or modal.", "required": "Choose e2b or modal."},
    )
    api_url = _absolute_url(
        "API URL override", "Only for a local backend or a non-standard gateway; default https://api.<domain>."
    )
    sandbox_url = _absolute_url("Sandbox URL override", "Only for a local backend or a non-standard gateway.")
    template_cpu_count = _bounded_int("Template CPU count", 1, 64, "CPUs")
    template_memory_mb = _bounded_int("Template memory (MB)", 512, 262144, "megabytes")

    class Meta:
        model = Organization
        fields = [
            "provider",
            "e2b_domain",
            "api_url",
            "sandbox_url",
            "template_alias",
            "template_cpu_count",
            "template_memory_mb",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template_alias"].required = False
        self.fields["template_alias"].help_text = (
            f"E2B_TEMPLATE_ALIAS. Lowercase letters, digits, hyphens and underscores. "
            f"Blank for the default, {default_template_alias(self.instance.slug)}."
        )

    def clean_e2b_domain(self):
        return self.cleaned_data["e2b_domain"].strip().lower().rstrip(".")

    def clean_api_url(self):
        return self.cleaned_data["api_url"].rstrip("/")

    def clean_sandbox_url(self):
        return self.cleaned_data["sandbox_url"].rstrip("/")

    def clean_template_alias(self):
        return self.cleaned_data["template_alias"].strip() or default_template_alias(self.instance.slug)


class E2BKeyAddForm(forms.Form):
    label = forms.CharField(
        label="Label", max_length=100, help_text="To tell keys apart, e.g. production-2026.",
        error_messages={"required": "Enter a label.", "max_length": "Use at most 100 characters."},
    )
    key = forms.CharField(
        label="E2B API key",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Your E2B team's API key (e2b_…). It is encrypted and never shown again.",
        error_messages={"required": "Enter the key."},
    )

    MIN_LENGTH = 10
    MAX_LENGTH = 200

    def clean_label(self):
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError("Enter a label.")
        return label

    def clean_key(self):
        key = self.cleaned_data["key"]
        if not key.strip():
            raise forms.ValidationError("Enter the key.")
        if any(c.isspace() for c in key):
            raise forms.ValidationError("An E2B key has no spaces or line breaks: paste the key alone.")
        if not key.isascii() or not key.isprintable():
            raise forms.ValidationError("An E2B key has only letters, digits and punctuation.")
        if not self.MIN_LENGTH <= len(key) <= self.MAX_LENGTH:
            raise forms.ValidationError(
                f"An E2B key is {self.MIN_LENGTH} to {self.MAX_LENGTH} characters long (e2b_ and 40 hex digits)."
            )
        return key


TOKEN_EXPIRY_CHOICES = [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


class AccessTokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What uses it, e.g. CI or the runtime.",
        error_messages={"required": "Enter a name.", "max_length": "Use at most 100 characters."},
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=AccessTokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="read: the organization and its runtime configuration without the key; "
        "runtime-config: the runtime configuration with the E2B key.",
        error_messages={
            "required": "Choose at least one scope.",
            "invalid_choice": "Choose among read, builds, sandboxes and runtime-config.",
        },
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=TOKEN_EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": "Choose never, 7, 30, 90 or 365 days."},
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        return name
