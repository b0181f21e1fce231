"""A category's settings, and the checks of its level, retention and regions that the
console, the REST API and a policy file share."""

import re
from dataclasses import dataclass

from django import forms
from django.utils import timezone

from governance.models import Category, HostingClass
from governance.policy import is_prohibited

#: 100 years. Some bound is needed: past about 739,000 days the purge's cutoff falls
#: before year 1, which dates cannot hold.
MAX_RETENTION_DAYS = 36_500


def level_problem(number: int) -> str | None:
    """Why ``number`` cannot be a new category's level, if it cannot (the console, the REST
    API and a policy file all ask here)."""
    return None if 1 <= number <= 9 else "Levels go from 1 (public) to 9."


def retention_problem(days: int | None, *, category: Category) -> str | None:
    """Why ``category`` cannot keep content ``days`` days (None: stores none), if it cannot: a
    prohibited one (:func:`policy.is_prohibited`: blocking all, or of level 4 and above)
    never stores anything."""
    if days is None:
        return None
    if is_prohibited(category):
        return "A prohibited category stores nothing: leave retention empty."
    if days > MAX_RETENTION_DAYS:
        return (
            f"Keep content at most {MAX_RETENTION_DAYS:,} days (100 years), "
            "or leave it empty to store none."
        )
    return None


def _lines(text: str) -> list[str]:
    return [part.strip().lower() for part in re.split(r"[,\n]", text) if part.strip()]


#: A region code as providers write theirs: eu, us-east-1, europe-west4, swedencentral.
REGION_CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: A backend's region has at most this many characters (``Backend.region``).
REGION_CODE_LENGTH = 40
#: A category's allowed regions, as typed: ample for every region of every provider.
REGIONS_TEXT_LENGTH = 1000


def region_codes_problem(codes: list[str]) -> str | None:
    """Why ``codes`` cannot be a category's allowed regions, if they cannot: each is a code
    as a backend's region names it, compared as it is (no list of known ones: providers add
    regions, and an on-premise backend may say "on-site")."""
    bad = [code for code in codes if len(code) > REGION_CODE_LENGTH or not REGION_CODE.match(code)]
    if not bad:
        return None
    shown = ", ".join(code[:REGION_CODE_LENGTH] for code in bad[:3])
    return (
        f"Not a region code: {shown}. Give codes as backends name their region, separated "
        "by commas: eu, us-east-1, europe-west4."
    )


def _kept(days: int | None, blocks_all: bool) -> str:
    """How long a category keeps conversations, in words."""
    if blocks_all or days is None:
        return "no text"
    return f"{days} day{'' if days == 1 else 's'}"


@dataclass(frozen=True)
class RetentionCut:
    """What shortening a category's retention deletes at the next purge: the conversations
    the old window keeps and the new one does not, those under a legal hold aside."""

    category: str
    before: str
    after: str
    conversations: int
    messages: int
    #: What the page's confirm button posts: a window changed after this count was shown
    #: is counted and shown again.
    confirmation: str

    def __str__(self) -> str:
        from privacy.purge import counted

        return (
            f"Shorter retention: {self.category} kept {self.before}, now {self.after}. The "
            f"next purge deletes {counted(self.conversations, 'conversation')} "
            f"({counted(self.messages, 'message')}) that {self.before} would still keep. "
            "Confirm the shorter retention to save it."
        )

    @property
    def outcome(self) -> str:
        """Said once it is saved."""
        from privacy.purge import counted

        return (
            f"It now keeps {self.after}: the next purge deletes "
            f"{counted(self.conversations, 'conversation')} that {self.before} kept."
        )


def retention_cut(category: Category, *, retention_days: int | None, blocks_all: bool):
    """The :class:`RetentionCut` of giving ``category`` these values, or None when the next
    purge would delete nothing more for them: they lengthen or keep its window, or no
    conversation is idle between the two (a shorter window with nothing to delete yet
    is saved at once, as a longer one is)."""
    from chat.models import Message  # chat and privacy build on governance
    from privacy import purge
    from privacy.policy import expiry_cutoff

    if not category.stores_content:
        return None
    proposed = Category(
        pk=category.pk, number=category.number, retention_days=retention_days,
        blocks_all=blocks_all,
    )  # fmt: skip
    window = retention_days if proposed.stores_content else 0
    if window >= category.retention_days:
        return None
    now = timezone.now()
    newly_expired = purge.expired_conversations(proposed, now).filter(
        last_activity_at__gte=expiry_cutoff(now, category.retention_days)
    )
    conversations = newly_expired.count()
    if not conversations:
        return None
    return RetentionCut(
        category=category.name,
        before=_kept(category.retention_days, False),
        after=_kept(retention_days, blocks_all),
        conversations=conversations,
        messages=Message.objects.filter(conversation__in=newly_expired).count(),
        confirmation=str(window) if proposed.stores_content else "none",
    )


class CategoryForm(forms.ModelForm):
    """A category's description, retention and routing requirements.

    Shortening an existing category's retention deletes, at the next purge, what the old
    window kept: saved only once confirmed (:attr:`retention_cut` says how much).
    """

    allowed_hosting_classes = forms.MultipleChoiceField(
        choices=HostingClass.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Allowed hosting",
        help_text="None ticked: any hosting.",
    )
    allowed_regions = forms.CharField(
        required=False,
        max_length=REGIONS_TEXT_LENGTH,
        label="Allowed regions",
        help_text="Comma-separated, e.g. eu, ch. Empty: any region.",
    )
    # The page's button posts the window it showed the count for; the REST API sends true.
    confirm_shorter_retention = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Category
        fields = [f for f in Category.POLICY_FIELDS if f not in ("finding_actions", "is_active")]
        error_messages = {
            "number": {
                "required": "Give the level, from 1 (public) to 9.",
                **dict.fromkeys(("invalid", "min_value", "max_value"), level_problem(0)),
            },
            "slug": {
                "unique": "A category with this short name already exists.",
                "required": "Give a short name for addresses, such as internal or client-data.",
                "invalid": "Use only letters, digits, hyphens and underscores, without spaces: "
                "client-data, for example.",
            },
            "name": {"required": "Give the category a name."},
            "summary": {"required": "Write the one line people see when they pick it."},
            "retention_days": dict.fromkeys(
                ("invalid", "min_value", "max_value"),
                "Give a whole number of days, or leave it empty to keep no text.",
            ),
        }
        labels = {
            "number": "Level",
            "slug": "Short name in addresses and the API",
            "retention_days": "Keep conversations for (days)",
            "blocks_all": "Prohibited: block every message",
            "forbid_training": "Forbid backends that train on inputs",
            "forbid_consumer_products": "Forbid consumer products",
            "require_zero_retention": "Require zero data retention at the provider",
            "require_dpa": "Require a signed data processing agreement",
            "do_examples": "Do (examples)",
            "dont_examples": "Don't (examples)",
        }
        help_texts = {
            "number": "The sensitivity level: 3 and above never leave our infrastructure, "
            "4 and above are blocked. Fixed once created.",
            "slug": "Letters, digits and hyphens, such as client-data. Fixed once created.",
            "retention_days": "Days a conversation's text is kept after its last message, then "
            "deleted. Leave empty to keep no text at all: each answer is shown once and the "
            "conversation has no memory.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "do_examples": forms.Textarea(attrs={"rows": 3}),
            "dont_examples": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retention_cut: RetentionCut | None = None
        if self.instance.pk:
            # Renumbering would silently move every conversation to another level.
            del self.fields["number"]
            del self.fields["slug"]
            self.initial["allowed_regions"] = ", ".join(self.instance.allowed_regions)

    def clean_number(self) -> int:
        number = self.cleaned_data["number"]
        if problem := level_problem(number):
            raise forms.ValidationError(problem)
        # Said here, naming whose it is: the model's "unique" message spoke of a "number"
        # beside a field labelled "Level".
        taken = Category.objects.filter(number=number).exclude(pk=self.instance.pk).first()
        if taken is not None:
            raise forms.ValidationError(
                f"Level {number} is already {taken.name}'s: choose a level no category has."
            )
        return number

    def clean_allowed_regions(self) -> list[str]:
        codes = sorted(set(_lines(self.cleaned_data["allowed_regions"])))
        if problem := region_codes_problem(codes):
            raise forms.ValidationError(problem)
        return codes

    def clean(self) -> dict:
        data = super().clean()
        days = data.get("retention_days")
        proposed = Category(
            number=data.get("number", self.instance.number) or 0,
            blocks_all=data.get("blocks_all", False),
        )
        if problem := retention_problem(days, category=proposed):
            self.add_error("retention_days", problem)
        if self.instance.pk and not self.errors:  # self.instance holds the saved values
            self.retention_cut = retention_cut(
                self.instance, retention_days=days, blocks_all=data.get("blocks_all", False)
            )
            if self.retention_cut and not self._confirmed(self.retention_cut):
                self.add_error("confirm_shorter_retention", str(self.retention_cut))
        return data

    def _confirmed(self, cut: RetentionCut) -> bool:
        given = self.data.get("confirm_shorter_retention")
        return given is True or given == cut.confirmation

    def values(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.fields
            if name != "confirm_shorter_retention"
        }
