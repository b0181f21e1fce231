"""Cleaning the auditor's filters (query parameters; audit has no write forms)."""

from functools import cached_property

from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.forms import BoundField

from audit.models import AuditEvent
from config.numbers import whole_number
from governance.models import HostingClass

#: The page says under the filters (#filter-days) in which time zone a day begins.
DAY = {"type": "date", "aria-describedby": "filter-days"}


class DescribedByItsErrorToo(BoundField):
    """A field described by its error as well as by what its widget names (a day: when days
    begin). Django leaves the error out once the widget names a description, and a refused
    day was then described by the time zone alone; its error is ``<id>_error`` on the page."""

    @property
    def aria_describedby(self) -> str | None:
        named = self.field.widget.attrs.get("aria-describedby")
        if named and self.errors and self.auto_id:
            return f"{named} {self.auto_id}_error"
        return super().aria_describedby


#: From the last name down to the next one below it, each step one look-up along the
#: (UPPER(backend), sequence) index; a name as its newest event spells it.
BACKEND_NAMES_SQL = """
WITH RECURSIVE names(key, name) AS (
    (SELECT UPPER(backend), backend FROM {table}
     ORDER BY UPPER(backend) DESC, sequence DESC LIMIT 1)
    UNION ALL
    SELECT below.* FROM names, LATERAL (
        SELECT UPPER(backend), backend FROM {table} WHERE UPPER(backend) < names.key
        ORDER BY UPPER(backend) DESC, sequence DESC LIMIT 1
    ) AS below
)
SELECT name FROM names WHERE key <> ''
"""


def backend_names() -> list[str]:
    """The backend names the trail holds, each once whatever its case, alphabetically.

    On PostgreSQL a walk that jumps from one name to the next along the index: 0.5 ms at
    200,000 events, where SELECT DISTINCT read every row (45-60 ms, and growing with the
    trail). Elsewhere (the embedded SQLite) a DISTINCT.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(BACKEND_NAMES_SQL.format(table=AuditEvent._meta.db_table))
            names = [name for (name,) in cursor.fetchall()]
    else:
        events = AuditEvent.objects.exclude(backend="").order_by()
        spellings = {}
        for name in events.values_list("backend", flat=True).distinct():
            spellings.setdefault(name.upper(), name)
        names = list(spellings.values())
    return sorted(names, key=str.casefold)


class TrailNameField(forms.ChoiceField):
    """A name chosen from those the trail holds. Typed (a link, the REST API), it is
    taken whatever its case and surrounding spaces, and read as the list spells it."""

    def to_python(self, value) -> str:
        typed = super().to_python(value).strip()
        return self._spelled.get(typed.upper(), typed) if typed else ""

    def bound_data(self, data, initial):
        """What the select shows selected: the list's spelling of what was typed."""
        return self.to_python(data)

    def validate(self, value) -> None:
        if value and not self.valid_value(value):
            known = ", ".join(self._spelled.values()) or "none yet"
            raise forms.ValidationError(
                f"No event names this backend. The trail's backends: {known}.",
                code="invalid_choice",
            )

    @property
    def _spelled(self) -> dict[str, str]:
        return {str(name).upper(): str(name) for name, _ in self.choices if name}


#: What events are about, as ``audit.record`` names it (the model's label): the kinds a
#: person picks from. Any other type (a model gone since, typed in a link or the REST
#: API) is still taken as it is: the trail outlives code.
TARGET_TYPES = (
    "api.apitoken",
    "chat.conversation",
    "governance.approval",
    "governance.backend",
    "governance.category",
    "governance.clearance",
    "governance.detectionrule",
    "governance.protectedtermlist",
    "governance.user",
    "privacy.legalhold",
    "privacy.purgerun",
    "privacy.subjectrequest",
    "training.policydocument",
    "training.quizattempt",
    "training.quizquestion",
)


def target_kind(target_type: str) -> str:
    """ "privacy.subjectrequest" as a person reads it ("subject request"); kept as it is when
    the model is gone."""
    try:
        return str(apps.get_model(target_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return target_type


class TargetTypeField(forms.ChoiceField):
    """What the events are about, picked by its kind in words; any type the trail may hold
    is taken, listed or not (a link to an older event's target must keep working)."""

    def __init__(self, **kwargs) -> None:
        kinds = sorted(((name, target_kind(name).capitalize()) for name in TARGET_TYPES),
                       key=lambda choice: choice[1])  # fmt: skip
        super().__init__(choices=[("", "Anything"), *kinds], **kwargs)

    def to_python(self, value) -> str:
        return super().to_python(value).strip()

    def validate(self, value) -> None:
        if len(value) > 60:  # the column's length: no event holds a longer one
            raise forms.ValidationError("No event is about anything of this type.")

    def with_typed(self, typed: str) -> None:
        """Lists a type the choices lack, so the select shows what the filter applies."""
        if typed and typed not in dict(self.choices):
            self.choices = [*self.choices, (typed, target_kind(typed))]


class EventFilter(forms.Form):
    bound_field_class = DescribedByItsErrorToo

    since = forms.DateField(required=False, label="From", widget=forms.DateInput(DAY))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(DAY))
    actor = forms.CharField(required=False, max_length=254, label="Actor email")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices]
    )
    category = forms.CharField(
        required=False, max_length=80, widget=forms.TextInput({"placeholder": "Name or level"})
    )
    backend = TrailNameField(required=False)
    hosting = forms.ChoiceField(
        required=False,
        choices=[("", "Any hosting"), *HostingClass.choices],
        help_text="Shows only chat requests, by where their backend runs. On a long trail, "
        "give dates too, or the search can be slow.",
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditEvent.Outcome.choices]
    )
    target_type = TargetTypeField(required=False, label="Target")
    target = forms.CharField(required=False, max_length=64, label="Target ID")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read when the list is shown or a backend is given, once: not for every filter.
        self.fields["backend"].choices = self._backend_choices
        self.fields["target_type"].with_typed(str(self.data.get("target_type", "")).strip())

    @cached_property
    def _backend_names(self) -> list[str]:
        return backend_names()

    def _backend_choices(self) -> list[tuple[str, str]]:
        return [("", "Any backend"), *((name, name) for name in self._backend_names)]

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            # Said beside the others: raised, it hid a mistyped email until this was mended.
            self.add_error(None, "The start date is after the end date.")
        email = (data.get("actor") or "").strip()
        data["actor_user"] = None
        if email and email != "system":
            user = get_user_model().objects.filter(email__iexact=email).first()
            if user is None:
                self.add_error("actor", "No account has this email address.")
            data["actor_user"] = user
        if data.get("target") and not data.get("target_type"):
            # Found by type and id together, along one index: an id alone reads every event.
            self.add_error(
                "target_type",
                "Choose what kind of target the ID is (a conversation, a user, …) too.",
            )
        action = data.get("action")
        if data.get("hosting") and action and action != AuditEvent.Action.CHAT_REQUEST:
            self.add_error(
                "hosting",
                "Only chat requests record the hosting they went to: choose the action "
                "“Chat request”, or any action.",
            )
        return data

    def active(self) -> dict[str, str]:
        """The filters in use, as query parameters (for export links and paging)."""
        if not self.is_bound or not self.is_valid():
            return {}
        return {
            name: str(self.data[name])
            for name in self.fields
            if self.data.get(name) not in (None, "")
        }

    def recorded(self) -> dict[str, str]:
        """The filters in use as the export's audit event keeps them: a person by their
        account's public id, never their email (the trail is kept for years)."""
        active = self.active()
        if active.get("actor") and self.cleaned_data.get("actor_user"):
            del active["actor"]
            active["actor_public_id"] = str(self.cleaned_data["actor_user"].public_id)
        return active

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if not self.is_bound or not self.is_valid():
            return events
        data = self.cleaned_data
        events = events.between(data.get("since"), data.get("until"))
        if data.get("actor") == "system":
            events = events.filter(actor__isnull=True)
        elif data.get("actor_user"):
            events = events.filter(actor=data["actor_user"])
        for name in ("action", "outcome"):
            if data.get(name):
                events = events.filter(**{name: data[name]})
        if data.get("category"):  # typed: "internal" finds "Internal"
            by_category = Q(category__iexact=data["category"])
            if number := whole_number(data["category"]):  # "2": the level, named or not
                by_category |= Q(details__category_number=number)
            events = events.filter(by_category)
        if data.get("backend"):
            events = events.filter(backend__iexact=data["backend"])
        if data.get("hosting"):  # along the action's index: the details' key has none
            events = events.filter(
                action=AuditEvent.Action.CHAT_REQUEST, details__hosting_class=data["hosting"]
            )
        if data.get("target_type"):
            events = events.filter(target_type=data["target_type"])
        if data.get("target"):
            events = events.filter(target_id=data["target"])
        return events
