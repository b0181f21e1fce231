"""The policy console's changes: categories, backends and their approvals, clearances,
detection rules and protected-term lists.

Every change to a policy object is one transaction holding the change and exactly
one audit event (none when nothing changed). ``before``/``after`` carry settings
only: never a credential (just ``"credential changed": true``) and never the
terms of a protected-term list (just their count).
"""

import datetime as dt
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    ProtectedTermList,
    User,
)
from governance.policy import is_prohibited, unmet_requirements
from governance.services.common import PolicyError

BACKEND_FIELDS = Backend.POLICY_FIELDS
CATEGORY_FIELDS = Category.POLICY_FIELDS
RULE_FIELDS = ("name", "reason", "kind", "pattern", "case_sensitive", "action", "is_active")
TERM_LIST_FIELDS = ("name", "kind", "term_count", "is_active")


def _snapshot(obj, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited settings of ``obj``, as JSON-safe values."""
    values = {}
    for name in fields:
        value = getattr(obj, name)
        values[name] = value.isoformat() if isinstance(value, dt.date) else value
    return values


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, on both sides."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys}


def _record_policy(
    *, actor: User, target, message: str, before: dict | None, after: dict | None
) -> None:
    record(
        action=AuditEvent.Action.POLICY_CHANGED,
        actor=actor,
        target=target,
        before=before,
        after=after,
        message=message,
    )


def _locked_or_new(model, instance, snapshot) -> tuple[Any, dict[str, Any]]:
    """For an edit, the row locked for update and its audited settings before the edit; for a
    new one (``instance`` None), an unsaved row and no settings."""
    if instance is None:
        return model(), {}
    locked = model.objects.select_for_update().get(pk=instance.pk)
    return locked, snapshot(locked)


def _record_saved(
    *, actor: User, target, noun: str, creating: bool, before: dict, after: dict, message=""
) -> None:
    """Audit a save: a new one with all its settings, an edit with only what changed (and
    nothing at all when nothing did); ``message`` words an edit otherwise than "NOUN edited"."""
    if creating:
        _record_policy(
            actor=actor, target=target, message=f"{noun} created", before=None, after=after
        )
        return
    before, after = _changes(before, after)
    if after:
        _record_policy(
            actor=actor,
            target=target,
            message=message or f"{noun} edited",
            before=before,
            after=after,
        )


#: The kinds whose vendor's host is named after the region (``bedrock-runtime.REGION.
#: amazonaws.com``, ``REGION-aiplatform.googleapis.com``); for the others it only routes.
REGION_NAMES_HOST = (Backend.Kind.BEDROCK, Backend.Kind.VERTEX)
#: A backend's fields that say where its key is sent (:func:`key_destination_changes`).
KEY_DESTINATION_FIELDS = ("kind", "base_url", "region")
KEY_REMOVED = (
    "The stored key was removed because the {what} changed: enter the key again for the new {what}."
)


def key_destination_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed, between two snapshots of a backend, about where its key is sent, as the
    form names it ("kind", "address", "region"); empty if the key still goes where it went.

    The model (Azure's deployment), Vertex AI's project and Azure's api-version only change
    the path on the same host, so they are not among them.
    """
    changed = []
    if before["kind"] != after["kind"]:
        changed.append("kind")
    if before["base_url"] != after["base_url"]:
        changed.append("address")
    if after["kind"] in REGION_NAMES_HOST and before["region"] != after["region"]:
        changed.append("region")
    return changed


def changes_in_words(changes: list[str]) -> str:
    """:func:`key_destination_changes` as a phrase: "address", "kind and address",
    "kind, address and region"."""
    return " and ".join([", ".join(changes[:-1]), changes[-1]] if changes[1:] else changes)


def forget_health(backend: Backend) -> None:
    """Clear the last "Test connection" result (unsaved): it was the old address's."""
    backend.health_checked_at = backend.health_latency_ms = None
    backend.health_error = ""


def save_backend(
    *,
    backend: Backend | None,
    values: dict[str, Any],
    credential: str,
    actor: User,
    remove_credential: bool = False,
) -> Backend:
    """Create or edit a backend. A non-empty ``credential`` is sealed and replaces the old one;
    ``remove_credential`` deletes the stored one (the key then comes from ``credential_env``,
    or from the workers' own identity).

    A stored key goes only where it was entered for: an edit that changes where it would be
    sent (:func:`key_destination_changes`) deletes it, unless a new key comes with the edit.
    Else a policy admin, who can never read the key, could point the backend at a server of
    their own and have the next call send it there. The returned backend's
    ``credential_notice`` then says so, for the person saving ("" otherwise). A key read from
    ``credential_env`` is not stored, and stays named: the server offers those variables to
    every backend (``STEWARD_BACKEND_KEY_VARIABLES``). Such an edit also clears the health
    (the last "Test connection"), which was the old address's.

    Disabling goes through :func:`set_backend_enabled`, which asks for confirmation.
    """
    with transaction.atomic():
        creating = backend is None
        backend, before = _locked_or_new(Backend, backend, _backend_snapshot)
        for name, value in values.items():
            setattr(backend, name, value)
        after = _backend_snapshot(backend)
        moved = [] if creating else key_destination_changes(before, after)
        if moved:
            forget_health(backend)
        backend.save()
        message = ""
        backend.credential_notice = ""
        if credential:
            backend.seal_credential(credential)
            backend.save(update_fields=["credential_encrypted"])
            after["credential changed"] = True
        elif (remove_credential or moved) and backend.credential_encrypted:
            backend.credential_encrypted = b""
            backend.save(update_fields=["credential_encrypted"])
            before["has_credential"], after["has_credential"] = True, False
            if not remove_credential:
                what = changes_in_words(moved)
                message = f"Backend edited: the stored key was removed because the {what} changed"
                backend.credential_notice = KEY_REMOVED.format(what=what)
        _record_saved(
            actor=actor,
            target=backend,
            noun="Backend",
            creating=creating,
            before=before,
            after=after,
            message=message,
        )
    return backend


def _backend_snapshot(backend: Backend) -> dict[str, Any]:
    return _snapshot(backend, BACKEND_FIELDS)


def set_backend_enabled(*, backend: Backend, enabled: bool, actor: User) -> Backend:
    """Enable or disable a backend; a disabled one serves no category until enabled again."""
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        if backend.enabled == enabled:
            return backend
        backend.enabled = enabled
        backend.save(update_fields=["enabled", "updated_at"])
        _record_policy(
            actor=actor,
            target=backend,
            message="Backend enabled" if enabled else "Backend disabled",
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
    return backend


def test_backend_connection(*, backend: Backend, actor: User, timeout: float = 10) -> Backend:
    """Call the backend with its real client and keep the outcome as its health.

    The call happens outside any transaction (it may take ``timeout`` seconds);
    the health fields and the audit event are then written together. The event
    says only whether it worked and how fast: never the key, nor what the
    backend answered.
    """
    # imported here: the vendors' clients are slow to import, and only this needs them
    from chat.llm import LLMError, adapter_for

    try:
        health = adapter_for(backend).check(timeout=timeout)
        ok, latency_ms, error = health.ok, health.latency_ms, health.error
    except LLMError as exc:  # configuration: no call was made
        ok, latency_ms, error = False, None, str(exc)
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        backend.health_checked_at = timezone.now()
        backend.health_latency_ms = latency_ms
        backend.health_error = error[: Backend._meta.get_field("health_error").max_length]
        # not ``updated_at``: a check is not an edit of the policy
        backend.save(update_fields=["health_checked_at", "health_latency_ms", "health_error"])
        record(
            action=AuditEvent.Action.BACKEND_TESTED,  # not a change of the policy
            actor=actor,
            target=backend,
            outcome=AuditEvent.Outcome.SUCCESS if ok else AuditEvent.Outcome.FAILURE,
            details={"health": "ok" if ok else "error", "latency_ms": latency_ms},
            message="Connection tested",
        )
    return backend


def delete_backend(*, backend: Backend, actor: User) -> None:
    """Delete a backend that no category relies on (revoke its approvals first)."""
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        if backend.approvals.exists():
            raise PolicyError(
                f"{backend.name} is approved for categories; revoke those approvals first, "
                "or disable it instead."
            )
        _record_policy(
            actor=actor,
            target=backend,
            message="Backend deleted",
            before=_backend_snapshot(backend),
            after=None,
        )
        backend.delete()


def approve_backend(
    *, category: Category, backend: Backend, preference: int, actor: User
) -> Approval:
    """Approve a backend for a category, refusing any that breaks a requirement.

    The refusal names every broken requirement, in the sentences of
    :func:`governance.policy.unmet_requirements`.
    """
    with transaction.atomic():
        category = Category.objects.select_for_update().get(pk=category.pk)
        problems = unmet_requirements(category, backend, today=timezone.localdate())
        if problems:
            raise PolicyError(*problems)
        if Approval.objects.filter(category=category, backend=backend).exists():
            raise PolicyError(f"{backend.name} is already approved for {category.name}.")
        approval = Approval.objects.create(
            category=category, backend=backend, preference=preference, approved_by=actor
        )
        _record_policy(
            actor=actor,
            target=approval,
            message="Backend approved for a category",
            before=None,
            after={
                "category": category.number,
                "backend": str(backend.public_id),
                "backend_name": backend.name,
                "preference": preference,
            },
        )
    return approval


def set_approval_preference(*, approval: Approval, preference: int, actor: User) -> None:
    """Change where a backend stands among those approved for a category (lower is tried
    first), without revoking it: between a revoke and a new approval it served nobody."""
    with transaction.atomic():
        approval = Approval.objects.select_for_update().get(pk=approval.pk)
        if approval.preference == preference:
            return
        before = {
            "category": approval.category.number,
            "backend_name": approval.backend.name,
            "preference": approval.preference,
        }
        approval.preference = preference
        approval.save(update_fields=["preference"])
        _record_policy(
            actor=actor,
            target=approval,
            message="Approval preference changed",
            before=before,
            after={"preference": preference},
        )


def revoke_approval(*, approval: Approval, actor: User) -> None:
    """Withdraw a backend's approval for a category: it serves that category no more."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=approval,
            message="Approval revoked",
            before={
                "category": approval.category.number,
                "backend": str(approval.backend.public_id),
                "backend_name": approval.backend.name,
                "preference": approval.preference,
            },
            after=None,
        )
        approval.delete()


def _party(clearance: Clearance) -> dict[str, str]:
    if clearance.group_id:
        return {"group": clearance.group.name}
    return {"user": str(clearance.user.public_id), "user_email": clearance.user.email}


def clearance_problem(category: Category) -> str:
    """Why nobody may be cleared for ``category`` ("" when someone may): a clearance for
    what no model ever receives would read as leave to send it."""
    if is_prohibited(category):
        return f"{category.name} is never sent to any model: nobody is cleared for it."
    return ""


def grant_clearance(
    *, category: Category, group: Group | None = None, user: User | None = None, actor: User
) -> Clearance:
    """Clear a role group or one person for a category."""
    if (group is None) == (user is None):
        raise PolicyError("Choose either a group or a person.")
    if problem := clearance_problem(category):
        raise PolicyError(problem)
    already = PolicyError(f"{group or user} is already cleared for {category.name}.")
    with transaction.atomic():
        if Clearance.objects.filter(category=category, group=group, user=user).exists():
            raise already
        try:
            with transaction.atomic():  # another admin's grant of it may commit meanwhile
                clearance = Clearance.objects.create(
                    category=category, group=group, user=user, granted_by=actor
                )
        except IntegrityError:
            raise already from None
        _record_policy(
            actor=actor,
            target=clearance,
            message="Clearance granted",
            before=None,
            after={"category": category.number, **_party(clearance)},
        )
    return clearance


def revoke_clearance(*, clearance: Clearance, actor: User) -> None:
    """Withdraw a clearance: new conversations in that category are refused at once."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=clearance,
            message="Clearance revoked",
            before={"category": clearance.category.number, **_party(clearance)},
            after=None,
        )
        clearance.delete()


def save_category(*, category: Category | None, values: dict[str, Any], actor: User) -> Category:
    """Create or edit a category's description, retention and routing requirements."""
    with transaction.atomic():
        creating = category is None
        category, before = _locked_or_new(Category, category, _category_snapshot)
        for name, value in values.items():
            setattr(category, name, value)
        category.save()
        after = _category_snapshot(category)
        _record_saved(
            actor=actor,
            target=category,
            noun="Category",
            creating=creating,
            before=before,
            after=after,
        )
    return category


def _category_snapshot(category: Category) -> dict[str, Any]:
    return _snapshot(category, CATEGORY_FIELDS)


def set_finding_actions(*, category: Category, actions: dict[str, str], actor: User) -> Category:
    """Replace a category's overrides of the finding matrix (type -> action)."""
    return save_category(category=category, values={"finding_actions": actions}, actor=actor)


def set_category_active(*, category: Category, active: bool, actor: User) -> Category:
    """Retire a category (nobody can pick it) or bring it back."""
    return save_category(category=category, values={"is_active": active}, actor=actor)


def save_rule(*, rule: DetectionRule | None, values: dict[str, Any], actor: User) -> DetectionRule:
    """Create or edit a detection rule (the form has checked the pattern already)."""
    with transaction.atomic():
        creating = rule is None
        rule, before = _locked_or_new(DetectionRule, rule, _rule_snapshot)
        for name, value in values.items():
            setattr(rule, name, value)
        rule.save()
        after = _rule_snapshot(rule)
        _record_saved(
            actor=actor, target=rule, noun="Rule", creating=creating, before=before, after=after
        )
    return rule


def _rule_snapshot(rule: DetectionRule) -> dict[str, Any]:
    values = _snapshot(rule, RULE_FIELDS)
    values["min_category"] = rule.min_category.number if rule.min_category else None
    return values


def delete_rule(*, rule: DetectionRule, actor: User) -> None:
    """Delete a rule; past decisions keep its name in the audit trail."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=rule,
            message="Rule deleted",
            before=_rule_snapshot(rule),
            after=None,
        )
        rule.delete()


def save_term_list(
    *,
    term_list: ProtectedTermList | None,
    values: dict[str, Any],
    terms: list[str] | None,
    actor: User,
) -> ProtectedTermList:
    """Create or edit a protected-term list; ``terms`` (when given) replaces every term.

    The terms are sealed; the audit trail records only how many there are.
    """
    with transaction.atomic():
        creating = term_list is None
        term_list, before = _locked_or_new(ProtectedTermList, term_list, _term_list_snapshot)
        for name, value in values.items():
            setattr(term_list, name, value)
        if terms is not None:
            if creating:
                term_list.save()  # the sealing context needs the saved public id
            term_list.set_terms(terms)
        term_list.save()
        after = _term_list_snapshot(term_list)
        if terms is not None:
            after["terms replaced"] = True
        _record_saved(
            actor=actor,
            target=term_list,
            noun="Term list",
            creating=creating,
            before=before,
            after=after,
        )
    return term_list


def _term_list_snapshot(term_list: ProtectedTermList) -> dict[str, Any]:
    return _snapshot(term_list, TERM_LIST_FIELDS)


def delete_term_list(*, term_list: ProtectedTermList, actor: User) -> None:
    """Delete a protected-term list and its sealed terms."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=term_list,
            message="Term list deleted",
            before=_term_list_snapshot(term_list),
            after=None,
        )
        term_list.delete()
