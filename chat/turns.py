"""Messages as their author sees them: placeholders restored, answers rendered as Markdown."""

import html
import re
from dataclasses import dataclass
from functools import cached_property

from django.db.models import Q
from django.utils.html import strip_tags
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from chat import llm, transient
from chat.markdown import render_markdown, restore_markdown
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser
from governance.models import Category
from governance.policy import PROHIBITED_LEVEL, entity_phrase, hosting_name

#: What the author is told under an answer the backend did not finish.
CUT_SHORT = {
    llm.LENGTH: "The answer reached the backend's length limit and may be cut short.",
    llm.FILTERED: "The backend's content filter stopped the answer.",
}

#: What the author can do about an answer that failed, by the failure's kind (the reason
#: itself, for whoever sets the backend up, is shown above it).
AFTER_A_FAILURE = {
    "config": "The model is not set up right: retrying will not help until a policy admin "
    "fixes it. Your message is kept.",
    "connection": "The model may be down or busy: retry in a moment. Your message is kept.",
    "timeout": "The model may be down or busy: retry in a moment. Your message is kept.",
    "lost": "Your message is kept: Retry sends it again.",
    "queue": "Your message is kept: Retry sends it again, perhaps in a while.",
    Message.CHANGED: "Your message is kept: Retry sends it under today's policy, to a model it "
    "allows.",
    Message.TOO_LONG: "Sending it again as it is would fail the same way: copy your message to "
    "change it.",
}
AFTER_A_FAILURE["auth"] = AFTER_A_FAILURE["config"]
AFTER_ANY_OTHER_FAILURE = (
    "Retry; if it keeps failing, tell your Steward administrator what it says above."
)

#: Under a message blocked for what it holds: what to do instead.
INSTEAD_OF_BLOCKED = "Remove those details and ask in general terms, or ask your privacy team."
#: A category as the policy's reasons name it: "category 4 (Prohibited)".
NAMED_CATEGORY = re.compile(r"\bcategory (\d+) \(")


@dataclass(frozen=True)
class Turn:
    message: Message
    #: The text for the author (and the exports): as written (questions), or the answer's
    #: Markdown with the values back where it shows them as text, never in a link's address.
    text: str
    #: Answers: rendered as sanitised Markdown, the values back in its text only.
    html: SafeString | str
    #: Questions: what the model was given, when it differs from what was written.
    sent: str
    #: "1 email address, 2 phone numbers" that were replaced before sending.
    replaced: str
    hosting: str
    #: False in a category that keeps no content: the text shows only while it passes.
    kept: bool = True

    @property
    def first_words(self) -> str:
        """An answer's first words as it reads (its HTML's text, no Markdown): its Copy
        button's name, which tells it apart from the thread's others."""
        return Truncator(html.unescape(strip_tags(self.html))).words(6)

    @property
    def after_failure(self) -> str:
        """What the author can do about the answer's failure (a failed answer only)."""
        if self.message.status != Message.Status.FAILED:
            return ""
        return AFTER_A_FAILURE.get(self.message.error_kind, AFTER_ANY_OTHER_FAILURE)

    @property
    def failure_heading(self) -> str:
        """What a failed answer's explanation opens with: whether any of it came."""
        return "The answer stopped partway." if self.text or self.message.chars else "No answer."

    @property
    def offers_retry(self) -> bool:
        """Whether the answer has a Retry (:attr:`Message.retry_may_help`)."""
        return self.message.retry_may_help

    @property
    def offers_copy_of_question(self) -> bool:
        """Whether the answer failed in a way only a changed question mends, and the
        question's text is there to copy (its category keeps content)."""
        failed = self.message.status == Message.Status.FAILED
        return failed and self.message.error_kind == Message.TOO_LONG and self.kept

    @property
    def cut_short(self) -> str:
        """Why the backend stopped before the answer was finished, if it did."""
        return CUT_SHORT.get(self.message.finish_reason, "")

    @cached_property
    def why_card(self) -> int:
        """The category whose card explains a blocked message: the one its reason names.

        A blocked message keeps only its reasons and the category it was handled as.
        A rule's block names no category, and the conversation's card does not explain it
        (a health message blocked in an Internal conversation): what a rule blocks goes
        to no model, as the prohibited category's card says, and lists.
        """
        reasons = " ".join(self.message.reasons)
        if named := NAMED_CATEGORY.search(reasons):
            return int(named.group(1))
        if "(rule “" in reasons:
            return _prohibited_number() or self.message.category_number
        return self.message.category_number

    @property
    def instead(self) -> str:
        """What to do instead, under a message blocked for what it holds (the policy's reasons
        for those start "Blocked:"; no other wording would get one past a missing clearance
        or a model that is down)."""
        if any(reason.startswith("Blocked:") for reason in self.message.reasons):
            return INSTEAD_OF_BLOCKED
        return ""


def _prohibited_number() -> int | None:
    """The first active prohibited category, whose card lists what no model may receive."""
    prohibited = Q(blocks_all=True) | Q(number__gte=PROHIBITED_LEVEL)
    active = Category.objects.filter(prohibited, is_active=True).order_by("number")
    return active.values_list("number", flat=True).first()


def turns_for(conversation: Conversation, messages, *, html: bool = True) -> list[Turn]:
    """Every message of ``conversation`` ready for its author's page (one key, opened once);
    ``html=False``: their text only, for an export (the answers' HTML is most of the cost:
    Markdown, highlighting and sanitising, ~0.5 ms an answer)."""
    pseudonymiser = Pseudonymiser(conversation.pseudonyms())
    turns = []
    for message in messages:
        message.conversation = conversation
        turns.append(turn_for(message, pseudonymiser, html=html))
    return turns


def turn_for(
    message: Message, pseudonymiser: Pseudonymiser | None = None, *, html: bool = True
) -> Turn:
    if pseudonymiser is None:
        pseudonymiser = Pseudonymiser(message.conversation.pseudonyms())
    sent = ""
    rendered: SafeString | str = ""
    kept = transient.keeps_content(message.conversation)
    if message.role == Message.Role.USER:
        if message.status == Message.Status.BLOCKED:
            text = ""
        else:
            text = message.content if kept else transient.question_text(message)
        if message.sent_sealed:
            sent = message.sent_text
    else:
        if kept:
            written = message.content if message.content_sealed else ""
        else:
            written = transient.answer_text(message)
            pseudonymiser = Pseudonymiser(transient.mapping_for(message))
        values = pseudonymiser.mapping["values"]
        text = restore_markdown(written, values) if written else ""
        rendered = render_markdown(written, values) if written and html else ""
    replaced = ", ".join(entity_phrase(kind, n) for kind, n in sorted(message.replaced.items()))
    hosting = message.backend.hosting_class if message.backend else ""
    return Turn(
        message=message,
        text=text,
        html=rendered,
        sent=sent,
        replaced=replaced,
        hosting=hosting_name(hosting),
        kept=kept,
    )
