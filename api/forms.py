from django import forms

from api.services import MAX_EXPIRY_DAYS

EXPIRY_CHOICES = [(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="What it is for, e.g. “notebook” or “CI reports”."
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, initial=90, label="Expires after"
    )

    def clean_expires_in_days(self) -> int | None:
        days = self.cleaned_data["expires_in_days"]
        if days and days > MAX_EXPIRY_DAYS:
            raise forms.ValidationError("Too long.")
        return days or None
