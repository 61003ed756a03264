from django import forms

from templates_app.models import BuildStatus, LogLevel


class BuildForm(forms.Form):
    skip_cache = forms.BooleanField(
        label="Skip cache", required=False, help_text="Rebuild every step instead of reusing E2B's cached layers."
    )


class LevelFilterForm(forms.Form):
    level = forms.ChoiceField(
        label="Level", required=False, choices=[("", "all"), *[(v, f"{v} and above") for v in LogLevel.values[1:]]]
    )


class BuildFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "any"), *BuildStatus.choices])
    org = forms.CharField(label="Organization", required=False)
