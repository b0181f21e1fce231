"""Which backend a message goes to: the first eligible one (in the policy's order) that can
answer now, and the rows the policy names, cached per policy version."""

import copy
import os
from dataclasses import replace

from chat import streams
from chat.models import Conversation
from governance.models import Backend, Category, User
from governance.policy import Decision, Outcome
from governance.policy_cache import Version, cached, read_version
from governance.simulation import Simulation, simulate


def _pick_backend(eligible: tuple[str, ...], version: Version) -> Backend:
    """The first eligible backend (in the policy's order) that can answer now.

    A backend the worker could not reach lately (for
    ``chat.streams.UNREACHABLE_FOR_SECONDS``), or whose key is to come from an
    environment variable that is not set, goes to the back of the line, so the
    next approved backend answers instead; if none is better, the first is
    tried (and its failure says why).
    """
    try:
        down = streams.unreachable(eligible)
    except Exception:  # Redis is down: the answer will wait for it anyway
        down = frozenset()
    backends = cached("chat.backends", version, _backends_by_id)
    ready = [
        key
        for key in eligible
        if key in backends and key not in down and not backends[key].key_missing
    ]
    return backend_by_key(ready[0] if ready else eligible[0], version)


def passed_over(decision: Decision, version: Version) -> tuple[Backend, str] | None:
    """When a message sent now would not reach the policy's first choice (:func:`_pick_backend`):
    the backend it would reach, and why the first is passed over, in words; else None."""
    if decision.blocked or not decision.backends:
        return None
    picked = _pick_backend(decision.backends, version)
    if str(picked.public_id) == decision.backends[0]:
        return None
    first = backend_by_key(decision.backends[0], version)
    if not first.key_missing:
        return (
            picked,
            f"{first.name} could not be reached in {_the_last(streams.UNREACHABLE_FOR_SECONDS)}",
        )
    variable = first.credential_env
    problem = "is not set" if not os.environ.get(variable) else "is not offered for keys"
    return picked, f"{first.name} has no key on this server ({variable} {problem})"


def _the_last(seconds: int) -> str:
    """``60`` → "the last minute", ``120`` → "the last 2 minutes", ``90`` → "the last 90
    seconds"."""
    if seconds % 60:
        return f"the last {seconds} seconds"
    minutes = seconds // 60
    return "the last minute" if minutes == 1 else f"the last {minutes} minutes"


def backend_by_key(key: str, version: Version) -> Backend:
    """A copy of the backend whose public id is ``key``, as of ``version`` (cached per policy
    version; the cached rows are shared between threads). KeyError when there is none."""
    return copy.copy(cached("chat.backends", version, _backends_by_id)[key])


def _backends_by_id() -> dict[str, Backend]:
    return {str(b.public_id): b for b in Backend.objects.all()}


def active_categories(version: Version) -> dict[int, Category]:
    """The active categories by number, as of ``version`` (cached per policy version).

    The rows are shared between threads: read them; a conversation gets its own
    copy (:func:`category_by_number`).
    """
    return cached("chat.categories", version, _categories_by_number)


def category_by_number(number: int, version: Version) -> Category:
    """A copy of the active category ``number`` (KeyError when there is none)."""
    return copy.copy(active_categories(version)[number])


def _categories_by_number() -> dict[int, Category]:
    return {c.number: c for c in Category.objects.filter(is_active=True)}


def _routed(decision: Decision, backend: Backend | None, version: Version) -> Decision:
    """The decision with the backend the message goes to as its only way out: ``backend``,
    when the caller names one (blocked if the policy rules it out), else the first eligible
    one that can answer now (:func:`_pick_backend`). Its reasons name that backend."""
    if decision.blocked or not (backend or decision.backends):
        return decision
    backend = backend or _pick_backend(decision.backends, version)
    key = str(backend.public_id)
    if key in decision.backends:
        return decision.routed_to(key, backend.name)
    reason = f"{backend.name} may not receive category {decision.category} material."
    return Decision(outcome=Outcome.BLOCK, category=decision.category, reasons=(reason,))


def preview(*, author: User, conversation: Conversation, text: str) -> Simulation:
    """What sending ``text`` in ``conversation`` would do, to the backend a send would pick
    now; nothing is stored or sent."""
    simulation = simulate(user=author, chosen=conversation.category.number, text=text)
    decision = _routed(simulation.decision, None, read_version(author.pk))
    return replace(simulation, decision=decision)
