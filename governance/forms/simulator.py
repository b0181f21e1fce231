"""The policy simulator's form: a message, who sends it, and in which category."""

from django import forms

from governance.forms.people import find_person
from governance.models import User
from governance.simulation import MAX_MESSAGE_CHARS


class SimulatorForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(
            {"rows": 8, "placeholder": "Paste a message as a user would send it"}
        ),
    )
    user = forms.CharField(
        label="Sent by",
        max_length=254,
        help_text="Their email address: their clearances and training decide too.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    category = forms.TypedChoiceField(coerce=int, label="In category")

    def __init__(self, *args, categories=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(c.number, f"{c.number} · {c.name}") for c in categories]

    def clean_user(self) -> User:
        """An active person, by email address (or public id): a list of everyone in a select
        grew with the company."""
        typed = self.cleaned_data["user"].strip()
        found = find_person(typed)
        if found is None:
            raise forms.ValidationError(f"No active person has the email address “{typed[:80]}”.")
        return found
