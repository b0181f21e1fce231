"""Cleaning the auditor's filters (query parameters; audit has no write forms)."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from config.numbers import whole_number

#: The page says under the filters (#filter-days) in which time zone a day begins.
DAY = {"type": "date", "aria-describedby": "filter-days"}


class EventFilter(forms.Form):
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(DAY))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(DAY))
    actor = forms.CharField(required=False, max_length=254, label="Actor email")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices]
    )
    category = forms.CharField(
        required=False, max_length=80, widget=forms.TextInput({"placeholder": "Name or level"})
    )
    backend = forms.CharField(required=False, max_length=80)
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditEvent.Outcome.choices]
    )
    target_type = forms.CharField(
        required=False,
        max_length=60,
        label="Target type",
        widget=forms.TextInput({"placeholder": "chat.conversation"}),
    )
    target = forms.CharField(required=False, max_length=64, label="Target id")

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
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
                "Give the target's type too (as events name it, e.g. chat.conversation).",
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
        if data.get("target_type"):
            events = events.filter(target_type=data["target_type"])
        if data.get("target"):
            events = events.filter(target_id=data["target"])
        return events
