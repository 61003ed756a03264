from django import forms

from sandboxes.services import MAX_TIMEOUT_SECONDS, ListFilter, parse_metadata


class SandboxFilterForm(forms.Form):
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "running and paused"), ("running", "running"), ("paused", "paused")]
    )
    metadata = forms.CharField(
        label="Metadata", required=False, max_length=500, help_text="key=value pairs, e.g. env=dev owner=ana"
    )
    template = forms.CharField(label="Template", required=False, max_length=255)

    def clean_metadata(self):
        try:
            return parse_metadata(self.cleaned_data["metadata"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def filters(self):
        if not self.is_valid():
            return ListFilter()
        data = self.cleaned_data
        return ListFilter(
            states=[data["state"]] if data["state"] else [], metadata=data["metadata"], template=data["template"].strip()
        )


class TimeoutForm(forms.Form):
    timeout = forms.IntegerField(
        label="New timeout (seconds from now)", min_value=1, max_value=MAX_TIMEOUT_SECONDS, initial=3600
    )
