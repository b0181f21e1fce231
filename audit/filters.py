"""Cleaning the auditor's filters (query parameters; audit has no write forms)."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from config.numbers import whole_number


class EventFilter(forms.Form):
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
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
        return events
