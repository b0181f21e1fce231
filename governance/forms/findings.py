"""A category's finding matrix: what each type of finding does, where the level's default
is not wanted."""

from django import forms

from governance.models import Category
from governance.policy import SECRET_TYPES, default_action, entity_phrase
from governance.policy import Action as PolicyAction

FINDING_ACTIONS = [
    (PolicyAction.ALLOW.value, "Allow"),
    (PolicyAction.WARN.value, "Warn"),
    (PolicyAction.PSEUDONYMISE.value, "Replace"),
    (PolicyAction.BLOCK.value, "Block"),
]
NATIONAL_ID_ROW = "NATIONAL_ID"


def finding_rows() -> list[tuple[str, str, tuple[str, ...]]]:
    """The matrix's rows: (field name, label, entity types it sets)."""
    from governance.scanning.base import NATIONAL_IDS, Entity

    rows = []
    for kind in Entity:
        if kind not in NATIONAL_IDS:
            plural = entity_phrase(kind, 2).split(" ", 1)[1]
            rows.append((str(kind), plural[:1].upper() + plural[1:], (str(kind),)))
    rows.append((NATIONAL_ID_ROW, "National identifiers", tuple(sorted(map(str, NATIONAL_IDS)))))
    return rows


class FindingMatrixForm(forms.Form):
    """One select per finding type: empty keeps the default for the category's level."""

    def __init__(self, *args, category: Category, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category = category
        self.rows = []
        for name, label, kinds in finding_rows():
            default = default_action(category.number, kinds[0])
            choices = FINDING_ACTIONS
            if kinds[0] in SECRET_TYPES:  # the engine never lets a credential out in clear
                choices = [c for c in choices if c[0] in ("pseudonymise", "block")]
            default_label = dict(FINDING_ACTIONS)[default.value]
            field = forms.ChoiceField(
                label=label,
                required=False,
                choices=[("", f"Default: {default_label.lower()}"), *choices],
            )
            current = {category.finding_actions.get(k, "") for k in kinds}
            field.initial = current.pop() if len(current) == 1 else ""
            self.fields[name] = field
            self.rows.append((self[name], kinds, default_label))

    def actions(self) -> dict[str, str]:
        """The overrides to store: choices equal to the default are dropped."""
        actions = {}
        for name, _label, kinds in finding_rows():
            chosen = self.cleaned_data.get(name)
            for kind in kinds:
                if chosen and chosen != default_action(self.category.number, kind).value:
                    actions[kind] = chosen
        return dict(sorted(actions.items()))


def finding_matrix_form(given: object, *, category: Category) -> FindingMatrixForm:
    """The matrix form, cleaned, filled from a mapping finding type -> action (a REST
    request's, a policy file's); its ``actions()`` are what the engine reads.

    The form has one row per finding type, and one for every national identifier:
    those take one action, given under ``NATIONAL_ID`` or any of their own names.
    Raises ValidationError with every problem, each naming the key or row it is about.
    """
    if not isinstance(given, dict):
        raise forms.ValidationError("Give an object: finding type -> action.")
    rows = finding_rows()
    known = {name for row_name, _, kinds in rows for name in (row_name, *kinds)}
    names = ", ".join(row for row, _, _ in rows)
    problems = [
        f"Unknown finding type: {name}. Known: {names}." for name in given if name not in known
    ]
    data = {}
    for row_name, label, kinds in rows:
        chosen = [given[k] for k in dict.fromkeys((row_name, *kinds)) if k in given]
        if len({str(value) for value in chosen}) > 1:
            problems.append(f"{label} take one action together.")
        data[row_name] = chosen[0] if chosen and chosen[0] is not None else ""
    if problems:
        raise forms.ValidationError(problems)
    form = FindingMatrixForm(data=data, category=category)
    if not form.is_valid():
        raise forms.ValidationError(
            [
                f"{row}: {error['message']}"
                for row, errors in form.errors.get_json_data().items()
                for error in errors
            ]
        )
    return form
