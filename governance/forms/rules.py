"""Detection rules: a pattern or keywords, and what a match does."""

from django import forms
from django.db.models import Q

from governance.detection import PatternError, check_pattern
from governance.forms.common import _name_empty_choice
from governance.models import Category, DetectionRule


class RuleForm(forms.ModelForm):
    """A detection rule; the pattern is compiled and probed for catastrophic backtracking."""

    min_category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label="Raise to category",
        empty_label="—",
        help_text="For “Raise the category”: the lowest category a matching message may use.",
    )

    class Meta:
        model = DetectionRule
        fields = ["name", "reason", "kind", "pattern", "case_sensitive", "action", "min_category"]
        error_messages = {
            "name": {
                "unique": "A rule with this name already exists.",
                "required": "Give the rule a name.",
            },
            "reason": {"required": "Write the reason the sender reads when a message matches."},
            "kind": {"required": "Choose keywords or a regular expression."},
            "pattern": {"required": "Write what to look for: keywords, or a regular expression."},
            "action": {"required": "Choose what a match does."},
        }
        labels = {"case_sensitive": "Match case", "action": "When it matches"}
        help_texts = {
            "case_sensitive": "Regular expressions only: keywords match in any case and "
            "with or without accents."
        }
        widgets = {"pattern": forms.Textarea(attrs={"rows": 5, "spellcheck": "false"})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Retiring a category leaves the rules that escalate to it editable: they keep it.
        field = self.fields["min_category"]
        field.queryset = Category.objects.filter(
            Q(is_active=True) | Q(pk=self.instance.min_category_id)
        )
        field.label_from_instance = lambda c: str(c) if c.is_active else f"{c} (retired)"
        if self.instance.min_category_id:  # the initial pk would match no slug of the choices
            self.initial["min_category"] = self.instance.min_category
        _name_empty_choice(self.fields["action"], "Choose what a match does")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") and data.get("pattern") is not None:
            try:
                check_pattern(
                    data["kind"], data["pattern"], case_sensitive=data.get("case_sensitive", False)
                )
            except PatternError as exc:
                self.add_error("pattern", str(exc))
        if data.get("kind") == DetectionRule.Kind.KEYWORDS and data.get("case_sensitive"):
            self.add_error(
                "case_sensitive",
                "Keywords match in any case: untick “Match case”, or write a regular "
                "expression to match case.",
            )
        if data.get("action") == DetectionRule.Action.ESCALATE and not data.get("min_category"):
            self.add_error("min_category", "Choose the category a match raises the message to.")
        if data.get("action") != DetectionRule.Action.ESCALATE:
            data["min_category"] = None
        return data

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
