"""Approving a backend for a category."""

from django import forms
from django.utils import timezone

from governance.models import Approval, Backend, Category
from governance.policy import unmet_requirements


class ApprovalForm(forms.Form):
    """Approve a backend for a category; the requirements are checked here and again on save."""

    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        empty_label="Choose a category",
        error_messages={
            "required": "Choose the category the backend is to serve.",
            "invalid_choice": "Choose one of the categories listed.",
        },
    )
    backend = forms.ModelChoiceField(
        queryset=Backend.objects.all(),
        to_field_name="public_id",
        empty_label="Choose a backend",
        error_messages={
            "required": "Choose the backend to approve.",
            "invalid_choice": "Choose one of the backends listed.",
        },
    )
    preference = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=100,
        help_text="Lower is tried first when several backends qualify: 1 before 2 before 100.",
        error_messages=dict.fromkeys(
            ("required", "invalid", "min_value", "max_value"),
            "Give a whole number from 1 (tried first) to 1000.",
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A prohibited category is not offered; sent all the same, clean() says why not.
        self.fields["category"].choices = [
            ("", "Choose a category"),
            *((c.slug, str(c)) for c in Category.objects.filter(is_active=True).sendable()),
        ]

    def clean(self) -> dict:
        data = super().clean()
        category, backend = data.get("category"), data.get("backend")
        if category and backend:
            problems = unmet_requirements(category, backend, today=timezone.localdate())
            for problem in problems:
                self.add_error(None, problem)
            if problems:
                self.add_error(
                    None,
                    f"Choose a backend that meets what {category.name} requires, or change "
                    "what it requires first.",
                )
            if Approval.objects.filter(category=category, backend=backend).exists():
                self.add_error(None, f"{backend.name} is already approved for {category.name}.")
        return data
