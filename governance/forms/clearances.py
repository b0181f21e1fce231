"""Clearing a role group or a person for a category."""

from django import forms
from django.contrib.auth.models import Group

from governance.forms.people import resolve_party
from governance.models import Category, Clearance, User
from governance.services import clearance_problem


class ClearanceForm(forms.Form):
    """Clear a role group or one person for a category (one a model may receive).

    ``party`` is typed: a group's name or a person's email address (the page offers the
    groups as suggestions). ``group:<name>`` and ``user:<public id>`` are understood too, as
    the REST API and the revoke buttons send them. A list of every person in a select grew
    with the company (228 KB and 176 ms at 2,000 people).
    """

    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        empty_label="Choose a category",
        error_messages={
            "required": "Choose the category to clear them for.",
            "invalid_choice": "Choose one of the categories listed.",
        },
    )
    party = forms.CharField(
        label="Who",
        max_length=254,
        help_text="A group (Staff, Policy admin…) or a person's email address.",
        error_messages={
            "required": "Type a group's name, such as Staff, or a person's email address."
        },
        widget=forms.TextInput(
            attrs={
                "list": "clearance-groups",
                "autocomplete": "off",
                "placeholder": "A group (Staff…) or a person's email",
            }
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.groups = list(Group.objects.order_by("name").values_list("name", flat=True))
        offered = Category.objects.filter(is_active=True).sendable()
        self.fields["category"].choices = [
            ("", "Choose a category"),
            *((category.slug, str(category)) for category in offered),
        ]

    def clean_party(self) -> str:
        party = self.cleaned_data["party"]
        self.found = resolve_party(party)
        return party

    def clean_category(self) -> Category:
        category = self.cleaned_data["category"]
        if problem := clearance_problem(category):
            raise forms.ValidationError(problem)
        return category

    def clean(self) -> dict:
        data = super().clean()
        found = getattr(self, "found", None)
        data["group"] = found if isinstance(found, Group) else None
        data["user"] = found if isinstance(found, User) else None
        category = data.get("category")
        if category and (data["group"] or data["user"]):
            exists = Clearance.objects.filter(
                category=category, group=data["group"], user=data["user"]
            ).exists()
            if exists:
                who = data["group"] or data["user"]
                self.add_error(None, f"{who} is already cleared for {category.name}.")
        return data
