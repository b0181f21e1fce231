"""People and role groups: inviting someone, their roles, and who a typed name or address
means."""

from django import forms
from django.contrib.auth.models import Group

from governance.forms.common import is_uuid
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
    email = forms.EmailField(
        label="Work email",
        max_length=254,
        error_messages={
            "required": "Type the person's work email address.",
            "invalid": "Type a whole email address, such as jane.roe@example.com.",
        },
    )
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


def find_person(text: str, *, active_only: bool = True) -> User | None:
    """The person a public id or an email address (in any case) names, if any."""
    people = User.objects.filter(is_active=True) if active_only else User.objects.all()
    if is_uuid(text):
        return people.filter(public_id=text).first()
    return people.filter(email__iexact=text).first()


class UnknownParty(forms.ValidationError):
    """No group and no person is named by what was typed or sent; the message says so."""


def resolve_party(text: str, *, active_only: bool = True) -> Group | User:
    """The role group or person a clearance's party names (raises :class:`UnknownParty`).

    ``group:<name>`` and ``user:<public id>`` are what the revoke buttons and the REST API
    send, and are exact; a person types a group's name or an email address, in any case.
    Withdrawing passes ``active_only=False``: a deactivated person keeps their clearances.
    """
    text = text.strip()
    if not text:
        raise UnknownParty("Give a group's name or a person's email address.")
    kind, _, who = text.partition(":")
    if kind == "group":
        found = Group.objects.filter(name=who).first()
    elif kind == "user":
        found = find_person(who, active_only=active_only) if is_uuid(who) else None
    elif "@" in text:
        found = find_person(text, active_only=active_only)
    else:
        found = Group.objects.filter(name__iexact=text).first()
    if found is None:
        nobody = "no active person" if active_only else "no person"
        raise UnknownParty(
            f"No group and {nobody} is “{text[:80]}”: give a group's name or a person's "
            "email address."
        )
    return found
