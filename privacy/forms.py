"""Input cleaning for the privacy desk: every form says what is wrong in words."""

import datetime as dt
import re

from django import forms
from django.conf import settings
from django.core.validators import validate_email
from django.utils import timezone

from chat.models import Conversation
from chat.pseudonyms import canonical
from governance.models import User
from governance.scanning.normalise import normalise
from privacy.models import RequesterNotice, SubjectRequest
from privacy.scope import IDENTIFIER_KINDS

IDENTIFIER_FIELDS = ("email", "phone", "name", "other")
PHONE_CHARACTERS = re.compile(r"[0-9+()./\s-]+")

#: Words no person is named by alone. A name is erased as a whole word wherever it appears
#: in the conversations reached (privacy.erasure.literal_patterns), so one of these would
#: change every message that uses it: articles, pronouns, prepositions, conjunctions,
#: auxiliaries and a few adverbs as common.
COMMON_WORDS = frozenset(
    """
    a an the this that these those some any each every all both either neither no none
    i me my mine myself you your yours yourself yourselves he him his himself she her hers
    herself it its itself we us our ours ourselves they them their theirs themselves one
    who whom whose which what whoever whatever someone somebody something anyone anybody
    anything everyone everybody everything nobody nothing other another such
    about above across after against along amid among around as at before behind below
    beneath beside besides between beyond but by concerning despite down during except for
    from in inside into like near of off on onto out outside over past per since than
    through throughout till to toward towards under underneath until unto up upon via with
    within without
    and or nor so yet because although though while whereas if unless whether once when
    whenever where wherever why how then also not only just very too
    am is are was were be been being have has had having do does did doing done
    will would shall should may might must can could ought
    here there now yes
    """.split()
)


def name_refusal(name: str, doing: str) -> str | None:
    """Why ``name`` cannot be replaced as a whole word wherever it stands (``doing``: "erasing",
    "withholding"), or None: a common word, or one word of fewer than 3 letters, would change
    every message that uses it. One withholds someone else's name from the person's copy,
    never the person's own: the refusal asks for the other person's."""
    read = normalise(name).text  # as it is matched (privacy.literals): "Ｔｈｅ" is "the"
    words = read.split()
    if len(words) == 1 and sum(c.isalpha() for c in read) < 3:
        refusal = f"“{name}” has fewer than 3 letters"
    elif all(word.casefold().strip(".,;:!?'\"") in COMMON_WORDS for word in words):
        refusal = f"“{name}” is {'a common word' if len(words) == 1 else 'made of common words'}"
    else:
        return None
    whose = "the other person's" if doing == "withholding" else "the person's"
    return f"{refusal}: {doing} it would change every message that uses it. Give {whose} full name."


def phone_refusal(phone: str) -> str | None:
    """Why ``phone`` is not a phone number as a request gives one, or None."""
    if sum(c.isdigit() for c in phone) < 6 or not PHONE_CHARACTERS.fullmatch(phone):
        return (
            "Give the number in digits, with its country code if you have it: "
            "+44 20 7946 0958, say."
        )
    return None


def email_refusal(email: str) -> str | None:
    """Why ``email`` is not an email address, or None."""
    try:
        validate_email(email)
    except forms.ValidationError:
        return "Enter a valid email address."
    return None


class LinesTextarea(forms.Textarea):
    """A box as tall as the lines in it, from 2 (room to add one) to 8: a form sent back with
    three email addresses shows all three, the refused one among them."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        lines = len(str(value or "").splitlines())
        context["widget"]["attrs"]["rows"] = min(max(2, lines), 8)
        return context


class IdentifierLines(forms.CharField):
    """The identifiers of one kind a request names, one per line (a person may give two email
    addresses, or go by a former name too), cleaned to a list.

    Each line is cleaned on its own: ``refusal`` says why one is not of the kind, ``longest``
    how long one may be. Blank lines are skipped; the same identifier twice, as the subject
    index spells it ("Jane@Example.org" is "jane@example.org"), is refused. With several
    lines, a refusal names the line it is about."""

    #: What one box takes in all: a few identifiers, not a document.
    MAX_CHARS = 2000

    def __init__(self, *, kind: str, noun: str, longest: int, refusal=None, **kwargs) -> None:
        attrs = {"spellcheck": "false", **kwargs.pop("attrs", {})}
        super().__init__(
            required=False,
            max_length=self.MAX_CHARS,
            strip=False,  # one per line: cleaned line by line
            widget=LinesTextarea(attrs=attrs),
            error_messages={
                "max_length": f"That is more than {self.MAX_CHARS:,} characters: give only what "
                "the request names, one per line."
            },
            **kwargs,
        )
        self.kind, self.noun, self.longest, self.refusal = kind, noun, longest, refusal

    def clean(self, value) -> list[str]:
        text = super().clean(value)
        lines = [
            (number, line.strip())
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
        several = len(lines) > 1
        refusals, seen = [], {}
        for number, line in lines:
            if refusal := self._refusal(line):
                refusals.append(f"Line {number}: {refusal}" if several else refusal)
            elif (spelled := canonical(IDENTIFIER_KINDS[self.kind], line)) in seen:
                refusals.append(
                    f"Lines {seen[spelled]} and {number} give the same {self.noun}: give each once."
                )
            else:
                seen[spelled] = number
        if refusals:
            raise forms.ValidationError(refusals)
        return [line for _, line in lines]

    def _refusal(self, line: str) -> str | None:
        if len(line) > self.longest:
            return f"That is more than {self.longest} characters: give one {self.noun} per line."
        return self.refusal(line) if self.refusal else None


#: What each identifier box says under its label.
SEVERAL = "One per line, if they gave several."


class IdentifiersForm(forms.Form):
    """The identifiers a request names, each kind optional, several of a kind one per line
    (:class:`IdentifierLines`); :attr:`identifiers` lists them all."""

    email = IdentifierLines(
        kind="email",
        noun="email address",
        longest=254,
        refusal=email_refusal,
        label="Email address",
        help_text=SEVERAL,
        attrs={"inputmode": "email"},
    )
    phone = IdentifierLines(
        kind="phone",
        noun="phone number",
        longest=40,
        refusal=phone_refusal,
        label="Phone number",
        help_text=SEVERAL,
    )
    name = IdentifierLines(
        kind="name",
        noun="name",
        longest=150,
        refusal=lambda name: name_refusal(name, "erasing"),
        label="Full name",
        help_text="One per line, if they go by several: a former name, say.",
    )
    other = IdentifierLines(
        kind="other",
        noun="identifier",
        longest=100,
        label="Other identifier",
        help_text="IBAN, customer number, …: one per line.",
    )

    @property
    def identifiers(self) -> list[tuple[str, str]]:
        return [
            (kind, value)
            for kind in IDENTIFIER_FIELDS
            for value in self.cleaned_data.get(kind) or ()
        ]


class FocusChosenRadioSelect(forms.RadioSelect):
    """Radio buttons whose focus, when the group is refused, goes to the option chosen (the
    first while none is), as the keyboard enters a radio group: not to the first of several
    all marked ``autofocus``. Each option of a refused group is described by the group's error
    (``<id>_error``, beside the fieldset's legend): a screen reader entering the group at an
    option reads the option, not the fieldset's description."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if attrs and attrs.get("aria-invalid") and attrs.get("id"):
            option["attrs"]["aria-describedby"] = f"{attrs['id']}_error"
        return option

    def subwidgets(self, name, value, attrs=None):
        options = list(super().subwidgets(name, value, attrs))
        focused = next((index for index, option in enumerate(options) if option["selected"]), 0)
        for index, option in enumerate(options):
            if index != focused:
                option["attrs"].pop("autofocus", None)
        yield from options


class IntakeForm(IdentifiersForm):
    field_order = ["kind", "regime", "received_on", *IDENTIFIER_FIELDS, "staff_member", "note"]

    #: Said when no kind, or one that is not among the choices, is given.
    NO_KIND = "Choose what the person asks for: a copy of their data or erasure."

    kind = forms.ChoiceField(
        choices=SubjectRequest.Kind.choices,
        widget=FocusChosenRadioSelect,
        error_messages={"required": NO_KIND, "invalid_choice": NO_KIND},
    )
    regime = forms.ChoiceField(
        choices=SubjectRequest.Regime.choices,
        label="Under which law",
        help_text="GDPR: answer within one month. CCPA: within 45 days.",
    )
    received_on = forms.DateField(
        initial=timezone.localdate,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    staff_member = forms.BooleanField(
        required=False,
        label="The person is a member of staff",
        help_text=(
            "Their account (matched by the email address) and their own conversations "
            "are in scope too."
        ),
    )
    note = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the privacy team. Deleted with the identifiers when the request closes.",
    )

    def clean_received_on(self):
        day = self.cleaned_data["received_on"]
        today = timezone.localdate()
        if day > today:
            raise forms.ValidationError("The received date cannot be in the future.")
        if day < today - dt.timedelta(days=366):
            raise forms.ValidationError(
                "The received date is more than a year ago: check the year."
            )
        return day

    def clean(self):
        data = super().clean()
        refused = any(name in self.errors for name in IDENTIFIER_FIELDS)  # said at each field
        if not refused and not any(data.get(name) for name in IDENTIFIER_FIELDS):
            raise forms.ValidationError(
                "Give at least one identifier: email, phone, name or another."
            )
        data["subject_user"] = None
        if data.get("staff_member") and "email" not in self.errors:
            data["subject_user"] = self._staff_account(data.get("email") or [])
        return data

    def _staff_account(self, emails: list[str]) -> User | None:
        """The staff account one of ``emails`` is (the person's own may be among others they
        gave); None, refused beside the field, when none is or they are several people's."""
        accounts = list(User.objects.filter(email__in=[email.lower() for email in emails]))
        if len(accounts) == 1:
            return accounts[0]
        if accounts:
            self.add_error(
                "email",
                f"These email addresses are {len(accounts)} staff members' accounts: record a "
                "request for each person.",
            )
        elif len(emails) > 1:
            self.add_error("email", "No staff account has any of these email addresses.")
        else:
            self.add_error("email", "No staff account has this email address.")
        return None

    @property
    def request_fields(self) -> dict:
        """The cleaned intake as :func:`privacy.services.receive_request` takes it."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "regime": data["regime"],
            "received_on": data["received_on"],
            "identifiers": self.identifiers,
            "subject_user": data["subject_user"],
            "note": data["note"],
        }


class OwnDataForm(forms.Form):
    """A staff member's request for their own data, from "Your data": which kind, and
    under which law (its clock: GDPR one month, CCPA/CPRA 45 days). GDPR unless chosen."""

    #: Each law as the form offers it, with who it is for and its clock, in one line.
    REGIMES = {
        SubjectRequest.Regime.GDPR: "GDPR: you live or work in the EU, the EEA or the UK. "
        "Answered within one month.",
        SubjectRequest.Regime.CCPA: "CCPA/CPRA: you live in California. Answered within 45 days.",
    }

    kind = forms.ChoiceField(
        choices=SubjectRequest.Kind.choices,
        error_messages={
            "required": "Choose a copy of your data or erasure.",
            "invalid_choice": "Choose a copy of your data or erasure.",
        },
    )
    regime = forms.ChoiceField(
        choices=list(REGIMES.items()),
        required=False,
        initial=SubjectRequest.Regime.GDPR,
        widget=forms.RadioSelect,
        label="Under which law",
        error_messages={"invalid_choice": "Choose GDPR or CCPA/CPRA."},
    )

    def clean_regime(self) -> str:
        return self.cleaned_data["regime"] or SubjectRequest.Regime.GDPR


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class ExtendForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="extend_%s", **kwargs)
        self.fields["reason"].label = "Why more time is needed"


class VerifyForm(forms.Form):
    method = forms.CharField(
        max_length=500,
        label="How was the identity checked?",
        help_text="e.g. “Confirmed from the address on file”, “Saw a passport by video call”.",
    )


class HoldForm(forms.Form):
    person = forms.EmailField(required=False, label="Person (staff email)")
    conversation = forms.UUIDField(
        required=False,
        label="Or one conversation (its id)",
        help_text="The id in the conversation's address (/chat/c/<id>/) or in the audit "
        "trail's chat events: its owner or an auditor can give it to you.",
        error_messages={
            "invalid": "That is not a conversation id: one looks like "
            "3f2c9a1e-8b4d-4e6f-9a2b-1c3d5e7f9a0b, as in the conversation's address."
        },
    )
    reason = forms.CharField(max_length=500, help_text="The matter or case the hold is for.")

    def clean(self):
        data = super().clean()
        person, conversation = data.get("person"), data.get("conversation")
        if "conversation" in self.errors or "person" in self.errors:
            return data  # what was typed is wrong: said at its field
        if bool(person) == bool(conversation):
            raise forms.ValidationError("Hold either a person or one conversation.")
        data["user"] = data["conversation_obj"] = None
        if person:
            data["user"] = User.objects.filter(email=person.lower()).first()
            if data["user"] is None:
                self.add_error("person", "No account has this email address.")
        if conversation:
            data["conversation_obj"] = Conversation.objects.filter(public_id=conversation).first()
            if data["conversation_obj"] is None:
                self.add_error(
                    "conversation", "No conversation has this id (it may have been deleted)."
                )
        return data


class ScheduleForm(forms.Form):
    """The daily purge's time, on the company's clock (``TIME_ZONE``), which the labels
    name: the schedule is kept in that zone (privacy.services.set_purge_schedule)."""

    hour = forms.IntegerField(min_value=0, max_value=23)
    minute = forms.IntegerField(min_value=0, max_value=59)
    enabled = forms.BooleanField(required=False, label="Run the purge every day")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hour"].label = f"Hour ({settings.TIME_ZONE})"
        self.fields["minute"].label = f"Minute ({settings.TIME_ZONE})"


class FocusesRefusedField:
    """A page sent back with this form refused opens with the focus on its first refused field,
    whose description is its error: a screen reader reads out what to correct, where (for a
    radio group, the option focused is described by the group's error:
    :class:`FocusChosenRadioSelect`). These forms post without htmx and the page loads again,
    so it is ``autofocus`` (which browsers skip on a URL with a #fragment: the forms' actions
    have none)."""

    def full_clean(self) -> None:
        super().full_clean()
        self.focus_first_refused()

    def refuse(self, field: str, message: str) -> None:
        """Refuse ``field`` after validation (the service's reason), focused as the form's own."""
        self.add_error(field, message)
        self.focus_first_refused()

    def focus_first_refused(self) -> None:
        refused = (self.fields[name] for name in self.errors if name in self.fields)
        first = next((field for field in refused if not field.widget.is_hidden), None)
        if first is not None:
            first.widget.attrs["autofocus"] = True


class FinishForm(FocusesRefusedField, IdentifiersForm):
    """The identifiers to erase in the text, given again for a follow-up erasure (those typed
    for the first were dropped when it closed), several of a kind one per line: every one the
    first named, or the service says beside its field which kind is missing, and how many."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="finish_%s", **kwargs)


class RejectForm(FocusesRefusedField, ReasonForm):
    """A refusal names its legal ground, which the letter puts in plain words under the
    request's law, and the reason in the officer's words (for an exemption, which one). A
    ground the service refuses (excessive, with no earlier request) comes back beside it."""

    #: Said when no ground, or one that is not among the choices, is given (the REST API too).
    NO_GROUND = "Choose the ground in law for refusing the request."

    field_order = ["ground", "reason"]

    ground = forms.ChoiceField(
        label="The ground in law",
        choices=SubjectRequest.RejectionGround.choices,
        widget=FocusChosenRadioSelect,
        error_messages={"required": NO_GROUND, "invalid_choice": NO_GROUND},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="reject_%s", **kwargs)
        self.fields["reason"].label = "Why it is refused (the requester is told)"


class TellForm(FocusesRefusedField, forms.Form):
    """That the requester was told something they are owed (privacy.notices, whose refusal
    of the day comes back beside its field)."""

    topic = forms.ChoiceField(label="What they were told", choices=RequesterNotice.Topic.choices)
    channel = forms.ChoiceField(
        label="How",
        choices=[
            (value, label)
            for value, label in RequesterNotice.Channel.choices
            if value != RequesterNotice.Channel.STEWARD
        ],
    )
    told_on = forms.DateField(
        label="On",
        initial=timezone.localdate,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="tell_%s", **kwargs)

    def offer(self, owed) -> "TellForm":
        """Offer what is still owed. Any topic is valid: the service says why one that is
        not owed cannot be recorded (not extended, no outcome yet, already recorded)."""
        self.fields["topic"].widget.choices = [(o.topic, o.label) for o in owed]
        return self


class RecipientNoticeForm(FocusesRefusedField, forms.Form):
    """That a recipient of erased data was asked to erase it too (privacy.recipients); one
    form per recipient owed a notice on the request's page."""

    backend = forms.CharField(max_length=80, widget=forms.HiddenInput)
    told_on = forms.DateField(
        label="Told on",
        initial=timezone.localdate,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    how = forms.CharField(
        label="How they were told",
        max_length=200,
        widget=forms.TextInput(
            attrs={"size": 40, "placeholder": "email to privacy@vendor.example"}
        ),
        error_messages={
            "required": 'Say how the provider was told: "email to privacy@vendor.example".'
        },
    )

    @classmethod
    def for_each(cls, rows, bound=None, *, ids: str = "recipient") -> list:
        """Each recipient to tell with its form: ``bound`` (as posted, with its errors) for
        the one it was posted for, a blank one for the others; ids differ from form to form
        (``ids`` begins them)."""
        pairs = []
        for number, row in enumerate(rows):
            posted = bound is not None and bound.data.get("backend") == row.backend
            form = bound if posted else cls(initial={"backend": row.backend})
            form.auto_id = f"{ids}_{number}_%s"
            pairs.append((row, form))
        return pairs


class BreachScopeForm(forms.Form):
    """A backend and a window of time, in the site's time zone, for a breach scope report."""

    MAX_DAYS = 92
    WIDGET = {"type": "datetime-local", "step": "60"}

    backend = forms.ChoiceField(
        help_text="Disabled backends are listed too: their calls stay in the trail.",
        error_messages={"invalid_choice": "Choose one of the backends listed."},
    )
    start = forms.DateTimeField(
        label="From",
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs=WIDGET),
        error_messages={"invalid": "Give the start as a date and a time."},
    )
    end = forms.DateTimeField(
        label="To",
        help_text="The window ends just before this time.",
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs=WIDGET),
        error_messages={"invalid": "Give the end as a date and a time."},
    )

    def __init__(self, *args, **kwargs):
        from governance.models import Backend

        super().__init__(*args, **kwargs)
        self.backends = {str(b.public_id): b for b in Backend.objects.order_by("name")}
        self.fields["backend"].choices = [
            ("", "Choose a backend"),
            *(
                (key, b.name if b.enabled else f"{b.name} (disabled)")
                for key, b in self.backends.items()
            ),
        ]

    def clean_backend(self):
        return self.backends[self.cleaned_data["backend"]]

    @staticmethod
    def latest_end() -> dt.datetime:
        """The next whole minute: the inputs take minutes, and a window to the current one
        must reach the calls made in it so far."""
        return timezone.localtime().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            return data  # said at its field
        if end > self.latest_end():
            self.add_error("end", "The end is in the future: choose a time up to now.")
        elif end <= start:
            self.add_error("end", "The end must be after the start.")
        elif end - start > dt.timedelta(days=self.MAX_DAYS):
            self.add_error(
                "end",
                f"The window is longer than {self.MAX_DAYS} days: "
                "report on a shorter one, or on several in turn.",
            )
        return data


class WithholdForm(FocusesRefusedField, forms.Form):
    """Other people's names the detector did not find in an access copy's mentions, one per
    line, each withheld wherever it stands as a whole word (privacy.archive.withhold). A term
    is refused by the rule names are refused by for erasure (IdentifiersForm.name): a
    common word, or one word of fewer than 3 letters, would change every message using it."""

    #: As long as the full name a request may name (IdentifiersForm.name).
    MAX_TERM = 150

    terms = forms.CharField(
        label="Withhold before release",
        max_length=4000,
        strip=False,  # one per line: cleaned line by line
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Other people's names Steward did not recognise in the mentions, one per "
        "line. Each reads [another person's name] in the copy, whatever its case; the "
        "person's own conversations stay as they are.",
        error_messages={
            "required": "Give at least one name to withhold, one per line.",
            "max_length": "That is more than 4,000 characters: withhold the names in several goes.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="withhold_%s", **kwargs)

    def clean_terms(self) -> list[str]:
        terms = {}
        for line in self.cleaned_data["terms"].splitlines():
            term = " ".join(line.split())
            terms.setdefault(term.casefold(), term)
        terms.pop("", None)
        if not terms:
            raise forms.ValidationError(self.fields["terms"].error_messages["required"])
        refusals = [refusal for term in terms.values() if (refusal := self._refusal(term))]
        if refusals:
            raise forms.ValidationError(refusals)
        return list(terms.values())

    def _refusal(self, term: str) -> str | None:
        if len(term) > self.MAX_TERM:
            return (
                f"“{term[:30]}…” is longer than a name ({self.MAX_TERM} characters): "
                "give one name per line."
            )
        return name_refusal(term, "withholding")
