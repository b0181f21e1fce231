"""Policy as code: the whole policy as YAML, and applying such a file.

Export writes categories, backends (never credentials), approvals,
clearances, detection rules and term lists (names and kinds only: their
contents are confidential). Import makes the database match the file in one
transaction or changes nothing: objects are matched by natural key (category
slug, backend name, rule name, list name); those missing from the file are
disabled, approvals and clearances missing from it are withdrawn. Every change
is audited; a dry run reports the same changes without making them. A backend the
file moves (its kind, address, or the region naming its host) loses its stored key,
as in the console: the file carries no key, and the old one goes only where it was
entered for. A shorter retention window that makes the next purge delete conversations
the old one keeps is applied only once confirmed, as in the console, and counted.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from api.parsers import holds_broken_text
from audit.models import AuditEvent
from audit.services import record
from governance.detection import PatternError, check_pattern
from governance.forms import (
    BackendForm,
    RetentionCut,
    finding_matrix_form,
    is_list_of_strings,
    level_problem,
    region_codes_problem,
    retention_cut,
    retention_problem,
)
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    HostingClass,
    ProtectedTermList,
    User,
)
from governance.policy import unmet_requirements
from governance.services import (
    KEY_DESTINATION_FIELDS,
    changes_in_words,
    clearance_problem,
    forget_health,
    key_destination_changes,
)

VERSION = 1
CATEGORY_FIELDS = Category.POLICY_FIELDS
BACKEND_FIELDS = Backend.POLICY_FIELDS
RULE_FIELDS = (
    "name",
    "reason",
    "kind",
    "pattern",
    "case_sensitive",
    "action",
    "min_category",
    "is_active",
)
LIST_FIELDS = ("name", "kind", "is_active")
SECTIONS = ("categories", "backends", "approvals", "clearances", "rules", "term_lists")
SINGULAR = {
    "categories": "category",
    "backends": "backend",
    "rules": "rule",
    "term_lists": "term list",
}


class PolicyFileError(Exception):
    """The file cannot be applied; ``problems`` lists every reason, each with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UnconfirmedRetentionCut(PolicyFileError):
    """The file shortens retention windows the next purge would then act on, and applying
    it was not confirmed: ``cuts`` count, per category slug, what it would delete."""

    def __init__(self, cuts: dict[str, RetentionCut]) -> None:
        super().__init__([str(cut) for cut in cuts.values()])
        self.cuts = cuts


# --- Export -----------------------------------------------------------------------


def export_policy() -> str:
    document = {
        "version": VERSION,
        "categories": [_snapshot(c, CATEGORY_FIELDS) for c in Category.objects.order_by("number")],
        "backends": [_snapshot(b, BACKEND_FIELDS) for b in Backend.objects.order_by("name")],
        "approvals": [
            {"category": a.category.slug, "backend": a.backend.name, "preference": a.preference}
            for a in Approval.objects.select_related("category", "backend")
        ],
        "clearances": [
            {
                "category": c.category.slug,
                **({"group": c.group.name} if c.group else {"user": c.user.email}),
            }
            for c in Clearance.objects.select_related("category", "group", "user").order_by(
                "category__number", "group__name", "user__email"
            )
        ],
        "rules": [
            _snapshot(r, RULE_FIELDS) for r in DetectionRule.objects.select_related("min_category")
        ],
        "term_lists": [_snapshot(t, LIST_FIELDS) for t in ProtectedTermList.objects.all()],
    }
    header = (
        "# Steward policy. Apply with: manage.py policy import FILE [--dry-run]\n"
        "# Credentials and protected-term contents are never exported.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


# --- Import -----------------------------------------------------------------------


@dataclass
class Plan:
    """What applying a file changes: one line per change, and the step that makes it."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    steps: list[Callable[[], None]] = field(default_factory=list)
    #: Per category slug, what the next purge deletes that the stored window keeps and the
    #: file's shorter one does not: applying needs confirming when there is any.
    retention_cuts: dict[str, RetentionCut] = field(default_factory=dict)

    def change(self, line: str, step: Callable[[], None]) -> None:
        self.lines.append(line)
        self.steps.append(step)


#: Per section, the fields that name something (the item itself, or one it refers to):
#: text or absent, since they are looked up, and a list there is no name.
NAMES = {
    "categories": ("slug",),
    "backends": ("name",),
    "rules": ("name", "min_category"),
    "term_lists": ("name",),
    "approvals": ("category", "backend"),
    "clearances": ("category", "group", "user"),
}


#: What a policy file may be: far more than any organisation's policy, far less than a
#: document built to exhaust the server (a few lines of YAML aliases can stand for millions
#: of values, each walked when the file is checked).
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ALIASES = 100
MAX_NODES = 100_000


class _TooBig(yaml.YAMLError):
    """A document refused for what its aliases would make of it."""


class _PolicyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a document whose aliases expand too far, and naming the
    line of a value it cannot build (a date that does not exist, ``!!int 'x'``)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _TooBig(
                    f"Not valid as a policy at line {mark.line + 1}: more than "
                    f"{MAX_ALIASES} aliases (*name)."
                )
        return super().compose_node(parent, index)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {})
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            kind = node.tag.rsplit(":", 1)[-1]
            problem = str(exc) if isinstance(exc, ValueError) else f"not a valid {kind}"
            raise yaml.constructor.ConstructorError(
                None, None, f"{value!r} cannot be read ({problem})", node.start_mark
            ) from None


def _expanded_size(node, sizes: dict) -> int:
    """How many nodes ``node`` stands for once every alias in it is expanded: refused past
    MAX_NODES, or when it contains itself. ``sizes`` keeps each node's, by id (None while
    it is being counted)."""
    key = id(node)
    if key in sizes:
        if sizes[key] is None:
            mark = node.start_mark
            raise _TooBig(
                f"Not valid as a policy at line {mark.line + 1}: an anchor (&name) refers to "
                "itself."
            )
        return sizes[key]
    sizes[key] = None
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    if size > MAX_NODES:
        raise _TooBig(
            f"Not valid as a policy: its aliases (*name) expand to more than {MAX_NODES:,} values."
        )
    sizes[key] = size
    return size


def check_size(size: int) -> None:
    """Refuse a file of ``size`` bytes that is too large to be a policy."""
    if size > MAX_FILE_BYTES:
        raise PolicyFileError(
            [
                f"The file is {size / 1024 / 1024:.1f} MB; a policy file may be at most "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB."
            ]
        )


def load(text: str) -> dict:
    check_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        document = yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark else ""
        raise PolicyFileError([f"Not valid YAML{where}: {exc.problem}"]) from None
    except _TooBig as exc:
        raise PolicyFileError([str(exc)]) from None
    except yaml.YAMLError as exc:
        raise PolicyFileError([f"Not valid YAML: {exc}"]) from None
    except RecursionError:
        raise PolicyFileError(["The file is nested too deeply to be a policy."]) from None
    if holds_broken_text(document):
        raise PolicyFileError(
            ["The file holds a NUL character or broken Unicode text, which cannot be stored."]
        )
    if not isinstance(document, dict):
        raise PolicyFileError(["The file must be a mapping with a 'version' and the sections."])
    problems = []
    if document.get("version") != VERSION:
        problems.append(f"version: must be {VERSION}.")
    problems += [
        f"{key}: unknown section (expected {', '.join(SECTIONS)})."
        for key in document
        if key != "version" and key not in SECTIONS
    ]
    for section in SECTIONS:
        value = document.setdefault(section, []) or []
        document[section] = value
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            problems.append(f"{section}: must be a list of mappings.")
            continue
        problems += [
            f"{section}[{index}].{name}: must be text."
            for index, item in enumerate(value)
            for name in NAMES[section]
            if item.get(name) is not None and not isinstance(item[name], str)
        ]
    if problems:
        raise PolicyFileError(problems)
    return document


def plan_import(text: str, *, actor=None) -> Plan:
    """Validate the whole file and work out the changes, without making any."""
    document = load(text)
    plan = Plan()
    audit = _Auditor(actor)
    categories = _plan_objects(
        plan,
        audit,
        document["categories"],
        Category,
        "slug",
        CATEGORY_FIELDS,
        "categories",
        off=("is_active", False),
        check=_category_check(),
    )
    backends = _plan_objects(
        plan,
        audit,
        document["backends"],
        Backend,
        "name",
        BACKEND_FIELDS,
        "backends",
        off=("enabled", False),
        check=_backend_check(),
        checked_by_check={"base_url", "model"},
    )
    for index, item in enumerate(document["rules"]):
        _check_rule(plan, index, item, categories)
    _plan_objects(
        plan,
        audit,
        document["rules"],
        DetectionRule,
        "name",
        RULE_FIELDS,
        "rules",
        off=("is_active", False),
        related={"min_category": categories},
    )
    _plan_objects(
        plan,
        audit,
        document["term_lists"],
        ProtectedTermList,
        "name",
        LIST_FIELDS,
        "term_lists",
        off=("is_active", False),
        ignored={"term_count"},
    )
    _plan_approvals(plan, audit, document["approvals"], categories, backends)
    _plan_clearances(plan, audit, document["clearances"], categories)
    if plan.problems:
        raise PolicyFileError(plan.problems)
    plan.retention_cuts = _retention_cuts(categories)
    return plan


def apply_import(text: str, *, actor=None, confirm_shorter_retention: bool = False) -> Plan:
    """Apply the file in one transaction: every change, each audited, or none.

    A file whose shorter retention makes the next purge delete what the stored window
    keeps raises :class:`UnconfirmedRetentionCut` unless ``confirm_shorter_retention``.
    """
    plan = plan_import(text, actor=actor)
    if plan.retention_cuts and not confirm_shorter_retention:
        raise UnconfirmedRetentionCut(plan.retention_cuts)
    details: dict[str, Any] = {"source": "import", "changes": len(plan.lines)}
    if plan.retention_cuts:
        details["retention_cuts"] = [
            {"category": slug, "conversations": cut.conversations, "messages": cut.messages}
            for slug, cut in plan.retention_cuts.items()
        ]
    with transaction.atomic():
        for step in plan.steps:
            step()
        _Auditor(actor).record(
            None, details=details, message=f"policy file applied: {len(plan.lines)} change(s)"
        )
    return plan


def _retention_cuts(categories: dict[str, Category]) -> dict[str, RetentionCut]:
    """Per slug, the :func:`~governance.forms.retention_cut` of giving each stored category
    the file's window. ``categories`` already hold the file's values, so the stored ones
    are read again."""
    stored = Category.objects.in_bulk([c.pk for c in categories.values() if c.pk])
    cuts = {}
    for slug, category in categories.items():
        if category.pk is None:
            continue
        cut = retention_cut(
            stored[category.pk],
            retention_days=category.retention_days,
            blocks_all=category.blocks_all,
        )
        if cut is not None:
            cuts[slug] = cut
    return cuts


class _Auditor:
    def __init__(self, actor) -> None:
        self.actor = actor

    def record(self, target, **fields) -> None:
        record(
            action=AuditEvent.Action.POLICY_CHANGED,
            actor=self.actor,
            actor_label="" if self.actor else "policy import",
            target=target,
            **fields,
        )

    def save(self, obj, names, before, change: str, *, key_removed="") -> Callable[[], None]:
        """``key_removed``: why a backend's stored key goes with the change, recorded as
        :func:`~governance.services.save_backend` records it (``has_credential``)."""

        def step() -> None:
            obj.save()
            was, after = before, _snapshot(obj, names)
            if key_removed:
                was, after = {**was, "has_credential": True}, {**after, "has_credential": False}
            self.record(
                obj,
                before=was,
                after=after,
                details={"source": "import", "change": change},
                message=key_removed,
            )

        return step

    def create(self, model, values: dict, after: dict) -> Callable[[], None]:
        def step() -> None:
            created = model.objects.create(**values)
            self.record(created, after=after, details={"source": "import", "change": "created"})

        return step

    def delete(self, obj, before: dict) -> Callable[[], None]:
        def step() -> None:
            self.record(obj, before=before, details={"source": "import", "change": "deleted"})
            obj.delete()

        return step


def _snapshot(obj, names) -> dict:
    values = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, Category):
            value = value.slug
        elif isinstance(value, dt.date):
            value = value.isoformat()
        values[name] = value
    return values


def _plan_objects(
    plan,
    audit,
    items,
    model,
    key,
    names,
    section,
    *,
    off,
    related=None,
    ignored=frozenset(),
    check=None,
    checked_by_check=frozenset(),
) -> dict:
    """Upsert by natural key; objects the file leaves out are switched off.

    ``check(obj, where)``: more cleaning once the model's own has passed; it may
    rewrite fields, and returns the problems it found. ``checked_by_check``: the
    fields it cleans instead of the model.
    """
    related = related or {}
    kind = SINGULAR[section]
    existing = {getattr(obj, key): obj for obj in model.objects.all()}
    seen: dict[str, Any] = {}
    for index, item in enumerate(items):
        where = f"{section}[{index}]"
        unknown = set(item) - set(names) - set(ignored)
        natural = item.get(key)
        if unknown:
            plan.problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}.")
            continue
        if not natural:
            plan.problems.append(f"{where}.{key}: required.")
            continue
        if natural in seen:
            plan.problems.append(f"{where}.{key}: {natural!r} appears twice.")
            continue
        obj = existing.get(natural) or model()
        before = _snapshot(obj, names) if obj.pk else None
        for name in names:
            if name in related:
                setattr(obj, name, related[name].get(item.get(name)))
            elif name in item:
                setattr(obj, name, item[name])
        seen[natural] = obj  # even if invalid: references to it then resolve, no cascade
        try:
            obj.full_clean(
                exclude=[*related, *checked_by_check],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            plan.problems += [
                f"{where}.{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()
            ]
            continue
        if check is not None and (problems := check(obj, where)):
            plan.problems += problems
            continue
        after = _snapshot(obj, names)
        if before is None:
            plan.change(f"+ {kind} {natural}", audit.save(obj, names, None, "created"))
        elif before != after:
            diff = ", ".join(
                f"{k}: {before[k]!r} → {after[k]!r}" for k in names if before[k] != after[k]
            )
            key_removed = getattr(obj, "key_removed", "")  # a moved backend's: _backend_check
            plan.change(
                f"~ {kind} {natural}: {diff}" + (f"; {key_removed}" if key_removed else ""),
                audit.save(obj, names, before, "updated", key_removed=key_removed),
            )
    flag, value = off
    for natural, obj in existing.items():
        if natural not in seen and getattr(obj, flag) != value:
            before = _snapshot(obj, names)
            setattr(obj, flag, value)
            plan.change(
                f"- {kind} {natural} (switched off)", audit.save(obj, names, before, "disabled")
            )
    return seen


def _category_check() -> Callable[[Category, str], list[str]]:
    """The console's checks of a category, for the file's categories in turn: a level is
    fixed once created, and a new one takes a free level from 1 to 9."""
    stored = {c.pk: c.number for c in Category.objects.all()}
    taken = {c.number: c.name for c in Category.objects.all()}

    def check(category: Category, where: str) -> list[str]:
        problems = []
        if category.pk and category.number != stored[category.pk]:
            problems.append(f"{where}.number: Fixed once created (it is {stored[category.pk]}).")
        elif not category.pk and (problem := _new_level_problem(category, taken)):
            problems.append(f"{where}.number: {problem}")
        else:
            taken.setdefault(category.number, category.name)
        if problem := retention_problem(category.retention_days, category=category):
            problems.append(f"{where}.retention_days: {problem}")
        return problems + _check_routing_lists(category, where) + _check_matrix(category, where)

    return check


def _check_routing_lists(category: Category, where: str) -> list[str]:
    """The hosting classes and the regions as the console and the REST API take them: lists
    (an empty one means any), of hosting classes and of region codes. ``false`` read as an
    empty list would have let a confidential category go to any hosting."""
    problems = []
    hosting = category.allowed_hosting_classes
    if not is_list_of_strings(hosting) or set(hosting) - set(HostingClass.values):
        problems.append(
            f"{where}.allowed_hosting_classes: a list of "
            f"{', '.join(HostingClass.values)} ([] means any hosting)."
        )
        category.allowed_hosting_classes = []  # refused: the approvals' checks read a list
    regions = category.allowed_regions
    if not is_list_of_strings(regions):
        problems.append(f"{where}.allowed_regions: a list of region codes ([] means any).")
        category.allowed_regions = []
    elif problem := region_codes_problem(regions):
        problems.append(f"{where}.allowed_regions: {problem}")
    return problems


def _new_level_problem(category: Category, taken: dict[int, str]) -> str | None:
    if problem := level_problem(category.number):
        return problem
    if category.number in taken:
        return f"Level {category.number} is {taken[category.number]}'s."
    return None


def _check_matrix(category: Category, where: str) -> list[str]:
    """The finding matrix as the console and the REST API take it, in the form the
    engine reads (national identifiers one by one); an unknown key or action is refused."""
    try:
        matrix = finding_matrix_form(category.finding_actions, category=category)
    except ValidationError as exc:
        return [f"{where}.finding_actions: {message}" for message in exc.messages]
    category.finding_actions = matrix.actions()
    return []


def _backend_check() -> Callable[[Backend, str], list[str]]:
    """:func:`_check_backend`, for the file's backends in turn, each first moved as the
    console moves it: one whose kind, address or (Bedrock, Vertex AI) region changes loses
    its stored key (said on its line, as ``key_removed``) and its last test's health."""
    where_to = KEY_DESTINATION_FIELDS
    stored = {b.pk: _snapshot(b, where_to) for b in Backend.objects.only(*where_to)}

    def check(backend: Backend, where: str) -> list[str]:
        if backend.pk in stored:
            moved = key_destination_changes(stored[backend.pk], _snapshot(backend, where_to))
            if moved:
                forget_health(backend)
            if moved and backend.credential_encrypted:
                backend.credential_encrypted = b""
                backend.key_removed = f"stored key removed: the {changes_in_words(moved)} changed"
        return _check_backend(backend, where)

    return check


def _check_backend(backend: Backend, where: str) -> list[str]:
    """The console's form's checks of a backend (its address, the key's variable, the fields
    each kind needs), and its clean-ups, which the backend takes as the console would save
    it (fields its kind does not use emptied, the packaged model's short name). A stored key
    beside a variable is said in words for a file, which has no key to remove."""
    if backend.credential_env.strip() and backend.credential_encrypted:
        return [
            f"{where}.credential_env: This backend has a stored key, which is used first: "
            "remove it in the console (or the REST API) to use the variable instead."
        ]
    values = {name: getattr(backend, name) for name in BackendForm.Meta.fields}
    form = BackendForm(
        data={name: value for name, value in values.items() if value is not None},
        instance=backend,
    )
    if form.is_valid():
        return []
    return [
        f"{where}{'' if name == NON_FIELD_ERRORS else f'.{name}'}: {message}"
        for name, messages in form.errors.items()
        for message in messages
    ]


def _check_rule(plan, index, item, categories) -> None:
    where = f"rules[{index}]"
    slug = item.get("min_category")
    if slug is not None and slug not in categories:
        plan.problems.append(f"{where}.min_category: no category {slug!r} in the file.")
    if item.get("action") == "escalate" and not slug:
        plan.problems.append(f"{where}.min_category: an escalating rule needs one.")
    if item.get("kind") == "keywords" and item.get("case_sensitive"):
        plan.problems.append(f"{where}.case_sensitive: Keywords match in any case.")
    try:
        check_pattern(
            str(item.get("kind", "")),
            str(item.get("pattern") or ""),
            case_sensitive=bool(item.get("case_sensitive")),
        )
    except PatternError as exc:
        plan.problems.append(f"{where}.pattern: {exc}")


def _plan_approvals(plan, audit, items, categories, backends) -> None:
    today = timezone.localdate()
    wanted = {}
    for index, item in enumerate(items):
        where = f"approvals[{index}]"
        category, backend = categories.get(item.get("category")), backends.get(item.get("backend"))
        if category is None or backend is None:
            plan.problems.append(f"{where}: names a category or backend that is not in the file.")
            continue
        plan.problems += [
            f"{where}: {backend.name} may not serve {category.name}: {problem}"
            for problem in unmet_requirements(category, backend, today=today)
        ]
        preference = item.get("preference", 100)
        if type(preference) is not int or not 1 <= preference <= 1000:  # not a bool either
            plan.problems.append(f"{where}.preference: Give a whole number from 1 to 1000.")
            continue
        wanted[(category.slug, backend.name)] = preference
    current = {
        (a.category.slug, a.backend.name): a
        for a in Approval.objects.select_related("category", "backend")
    }
    for (slug, name), preference in wanted.items():
        approval = current.get((slug, name))
        after = {"category": slug, "backend": name, "preference": preference}
        if approval is None:
            values = {
                "category": categories[slug],
                "backend": backends[name],
                "preference": preference,
                "approved_by": audit.actor,
            }
            plan.change(f"+ approval {name} for {slug}", audit.create(Approval, values, after))
        elif approval.preference != preference:
            before = {**after, "preference": approval.preference}
            approval.preference = preference
            plan.change(
                f"~ approval {name} for {slug}: preference {before['preference']} → {preference}",
                audit.save(approval, ("preference",), before, "updated"),
            )
    for (slug, name), approval in current.items():
        if (slug, name) not in wanted:
            before = {"category": slug, "backend": name, "preference": approval.preference}
            plan.change(f"- approval {name} for {slug}", audit.delete(approval, before))


def _plan_clearances(plan, audit, items, categories) -> None:
    """Clearances as the console grants them: to a group, or to an active account (one a
    deactivated account already has stays, as it does on the console)."""
    current = {
        (c.category.slug, c.group.name if c.group else "", c.user.email if c.user else ""): c
        for c in Clearance.objects.select_related("category", "group", "user")
    }
    wanted = set()
    for index, item in enumerate(items):
        where = f"clearances[{index}]"
        slug, group, email = item.get("category"), item.get("group"), item.get("user")
        account = User.objects.filter(email__iexact=email).first() if email else None
        key = (slug, group or "", (email or "").lower())
        if slug not in categories:
            plan.problems.append(f"{where}.category: no category {slug!r} in the file.")
        elif problem := clearance_problem(categories[slug]):
            plan.problems.append(f"{where}.category: {problem}")
        elif bool(group) == bool(email):
            plan.problems.append(f"{where}: name either a group or a user.")
        elif group and not Group.objects.filter(name=group).exists():
            plan.problems.append(f"{where}.group: no group {group!r}.")
        elif email and account is None:
            plan.problems.append(f"{where}.user: no account {email!r}.")
        elif account is not None and not account.is_active and key not in current:
            plan.problems.append(f"{where}.user: the account {email!r} is deactivated.")
        else:
            wanted.add(key)
    for slug, group, email in sorted(wanted - current.keys()):
        values = {
            "category": categories[slug],
            "group": Group.objects.get(name=group) if group else None,
            "user": User.objects.get(email__iexact=email) if email else None,
        }
        after = {"category": slug, "group": group, "user": email}
        plan.change(
            f"+ clearance {group or email} for {slug}", audit.create(Clearance, values, after)
        )
    for (slug, group, email), clearance in current.items():
        if (slug, group, email) not in wanted:
            before = {"category": slug, "group": group, "user": email}
            plan.change(f"- clearance {group or email} for {slug}", audit.delete(clearance, before))
