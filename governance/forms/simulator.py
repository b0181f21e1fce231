"""The policy simulator's form: a message, who sends it, and in which category."""

from django import forms

from governance.forms.people import find_person
from governance.models import User


class MessageField(forms.CharField):
    """The message, cleaned as the chat cleans one: the same line ends and trimming, and the
    chat's own refusal when it is empty or past the length limit. No ``maxlength`` on the box:
    the browser would cut a longer paste silently, and the decision shown would be the one on
    the shortened text, which the chat never makes."""

    def clean(self, value) -> str:
        from chat.services import ChatError, clean_text  # chat builds on governance

        try:
            return clean_text(value)
        except ChatError as exc:
            raise forms.ValidationError(str(exc)) from None


class SimulatorForm(forms.Form):
    text = MessageField(
        label="Message",
        widget=forms.Textarea(
            {"rows": 8, "placeholder": "Paste a message as a user would send it"}
        ),
    )
    user = forms.CharField(
        label="Sent by",
        max_length=254,
        help_text="Their email address: their clearances and training decide too.",
        error_messages={"required": "Type the email address of the person who sends it."},
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    category = forms.TypedChoiceField(
        coerce=int,
        label="In category",
        error_messages={
            "required": "Choose the category the message is sent in.",
            "invalid_choice": "Choose one of the categories listed: that one is not in use.",
        },
    )

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
