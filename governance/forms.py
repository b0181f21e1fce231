from django import forms

from governance.models import User
from governance.roles import Role

ROLE_HELP = {
    Role.STAFF: "Chats with models in the categories they are cleared for.",
    Role.POLICY_ADMIN: "Manages categories, backends, clearances, rules, users and roles.",
    Role.PRIVACY_OFFICER: "Runs retention, legal holds and data-subject requests.",
    Role.AUDITOR: "Reads and exports the audit trail. Read-only everywhere.",
}


class RolesField(forms.TypedMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=Role.choices, coerce=Role, required=False, **kwargs)


class InviteForm(forms.Form):
    email = forms.EmailField(label="Work email", max_length=254)
    full_name = forms.CharField(label="Full name", max_length=150, required=False)
    roles = RolesField(initial=[Role.STAFF])

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("Someone with this address already has an account.")
        return email

    def clean_roles(self) -> list[Role]:
        roles = self.cleaned_data["roles"]
        if not roles:
            raise forms.ValidationError("Choose at least one role.")
        return roles


class RolesForm(forms.Form):
    roles = RolesField()


class SimulatorForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=20_000,
        widget=forms.Textarea(
            {"rows": 8, "placeholder": "Paste a message as a user would send it"}
        ),
    )
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("email"),
        to_field_name="public_id",
        label="Sent by",
        empty_label=None,
    )
    category = forms.TypedChoiceField(coerce=int, label="In category")

    def __init__(self, *args, categories=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(c.number, f"{c.number} · {c.name}") for c in categories]
