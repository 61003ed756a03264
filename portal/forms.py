from django import forms

from portal.models import Membership, Organization, Role, slug_validator


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
