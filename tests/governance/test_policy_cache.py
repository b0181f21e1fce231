"""The cached policy: warm, a message costs two queries; every change is seen by the next read."""

import random
import threading
from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from types import SimpleNamespace

import pytest
import yaml
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from governance import services
from governance.access import holds
from governance.demo import seed_demo_organisation
from governance.detection import detect
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    ProtectedTermList,
    User,
)
from governance.policy import BackendSpec, CategorySpec, PolicyInput, decide
from governance.policy_cache import (
    ALSO_WATCHED,
    POLICY_MODELS,
    ensure_triggers,
    forget,
    read_version,
)
from governance.policy_io import apply_import, export_policy
from governance.roles import ROLE_PERMISSIONS, Role
from governance.simulation import BACKEND_FIELDS, SPEC_FIELDS, policy_input
from tests.factories import make_user
from training import services as training_services
from training.models import PolicyDocument

TEXT = "Please write to j.hartley@acme-logistics.co.uk about project zephyr and Globex. " * 25


@pytest.fixture
def demo(db):
    seed_demo_organisation()
    return _people()


def _people() -> SimpleNamespace:
    return SimpleNamespace(
        admin=User.objects.get(email="paula@example.com"),
        alice=User.objects.get(email="alice@example.com"),
        public=Category.objects.get(slug="public"),
        internal=Category.objects.get(slug="internal"),
        confidential=Category.objects.get(slug="confidential"),
        openai=Backend.objects.get(name="OpenAI business API"),
    )


def _read(user, chosen: int = 2, text: str = TEXT) -> PolicyInput:
    """What one message reads: the detectors, then the policy."""
    detection = detect(text)
    return policy_input(
        user=user, chosen=chosen, scan_result=detection.scan, rule_hits=detection.rule_hits
    )


def _committed_token() -> int:
    """The version token other processes will read once this test's transaction commits."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run what waits for the commit
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SELECT token FROM governance_policyversion")
        return cursor.fetchone()[0]


def _backend(given: PolicyInput, name: str) -> BackendSpec:
    return next(b for b in given.backends if b.name == name)


def _rule_names(given: PolicyInput) -> set[str]:
    return {hit.name for hit in given.rule_hits}


def _protected_terms() -> int:
    return sum(f.type == "PROTECTED_TERM" for f in detect("Globex called").scan.findings)


def _zephyr() -> DetectionRule:
    return DetectionRule.objects.get(name="Zephyr")  # beside the demo's own rule


def _add_rule(o) -> DetectionRule:
    return DetectionRule.objects.create(
        name="Zephyr", reason="A codename", kind="keywords", pattern="zephyr", action="warn"
    )


def _add_term_list(o) -> ProtectedTermList:
    return services.save_term_list(
        term_list=None,
        values={"name": "Clients", "kind": "client"},
        terms=["Globex"],
        actor=o.admin,
    )


def _nothing(o) -> None:
    pass


RULE_VALUES = {
    "name": "Zephyr",
    "reason": "A codename",
    "kind": "keywords",
    "pattern": "zephyr",
    "case_sensitive": False,
    "action": "warn",
    "min_category": None,
    "is_active": True,
}

# name: (setup, change, seen, whether the change writes a policy table)
SERVICE_CHANGES = {
    "approve backend": (
        lambda o: Approval.objects.filter(category=o.public, backend=o.openai).delete(),
        lambda o: services.approve_backend(
            category=o.public, backend=o.openai, preference=5, actor=o.admin
        ),
        lambda o: _backend(_read(o.alice), o.openai.name).approvals.get(1) == 5,
        True,
    ),
    "revoke approval": (
        _nothing,
        lambda o: services.revoke_approval(
            approval=Approval.objects.get(category=o.internal, backend=o.openai), actor=o.admin
        ),
        lambda o: 2 not in _backend(_read(o.alice), o.openai.name).approvals,
        True,
    ),
    "disable backend": (
        _nothing,
        lambda o: services.set_backend_enabled(backend=o.openai, enabled=False, actor=o.admin),
        lambda o: not _backend(_read(o.alice), o.openai.name).enabled,
        True,
    ),
    "edit backend": (
        _nothing,
        lambda o: services.save_backend(
            backend=o.openai, values={"region": "eu"}, credential="", actor=o.admin
        ),
        lambda o: _backend(_read(o.alice), o.openai.name).region == "eu",
        True,
    ),
    "edit category": (
        _nothing,
        lambda o: services.save_category(
            category=o.internal, values={"name": "In-house"}, actor=o.admin
        ),
        lambda o: _read(o.alice).categories[2].name == "In-house",
        True,
    ),
    "change finding actions": (
        _nothing,
        lambda o: services.set_finding_actions(
            category=o.internal, actions={"EMAIL_ADDRESS": "block"}, actor=o.admin
        ),
        lambda o: decide(_read(o.alice)).blocked,
        True,
    ),
    "retire category": (
        _nothing,
        lambda o: services.set_category_active(category=o.public, active=False, actor=o.admin),
        lambda o: 1 not in _read(o.alice).categories and 1 not in _read(o.alice).cleared,
        True,
    ),
    "grant clearance": (
        _nothing,
        lambda o: services.grant_clearance(category=o.confidential, user=o.alice, actor=o.admin),
        lambda o: 3 in _read(o.alice).cleared,
        True,
    ),
    "revoke clearance": (
        _nothing,
        lambda o: services.revoke_clearance(
            clearance=Clearance.objects.get(category=o.internal, group__name="Staff"),
            actor=o.admin,
        ),
        lambda o: 2 not in _read(o.alice).cleared,
        True,
    ),
    "change roles": (
        _nothing,
        lambda o: services.set_roles(user=o.alice, roles=[Role.AUDITOR], actor=o.admin),
        lambda o: _read(o.alice).cleared == frozenset(),
        False,  # memberships are read with the version, not cached
    ),
    "add rule": (
        _nothing,
        lambda o: services.save_rule(rule=None, values=RULE_VALUES, actor=o.admin),
        lambda o: "Zephyr" in _rule_names(_read(o.alice)),
        True,
    ),
    "edit rule": (
        _add_rule,
        lambda o: services.save_rule(rule=_zephyr(), values={"pattern": "boreas"}, actor=o.admin),
        lambda o: "Zephyr" in _rule_names(_read(o.alice, text="the boreas file")),
        True,
    ),
    "delete rule": (
        _add_rule,
        lambda o: services.delete_rule(rule=_zephyr(), actor=o.admin),
        lambda o: not _rule_names(_read(o.alice)),
        True,
    ),
    "add term list": (
        _nothing,
        _add_term_list,
        lambda o: _protected_terms() == 1,
        True,
    ),
    "edit term list": (
        _add_term_list,
        lambda o: services.save_term_list(
            term_list=ProtectedTermList.objects.get(),
            values={},
            terms=["Globex", "Initech"],
            actor=o.admin,
        ),
        lambda o: sum(f.type == "PROTECTED_TERM" for f in detect("Initech").scan.findings) == 1,
        True,
    ),
    "delete term list": (
        _add_term_list,
        lambda o: services.delete_term_list(
            term_list=ProtectedTermList.objects.get(), actor=o.admin
        ),
        lambda o: _protected_terms() == 0,
        True,
    ),
    "policy import": (
        _nothing,
        lambda o: apply_import(_renamed_internal(), actor=o.admin),
        lambda o: _read(o.alice).categories[2].name == "In-house",
        True,
    ),
    "demo seed": (
        lambda o: Clearance.objects.filter(category=o.internal, group__isnull=False).delete(),
        lambda o: seed_demo_organisation(),
        lambda o: 2 in _read(o.alice).cleared,
        True,
    ),
}


def _renamed_internal() -> str:
    document = yaml.safe_load(export_policy())
    next(c for c in document["categories"] if c["slug"] == "internal")["name"] = "In-house"
    return yaml.safe_dump(document)


@pytest.mark.parametrize("case", SERVICE_CHANGES.values(), ids=SERVICE_CHANGES.keys())
def test_it_sees_a_change_made_through_a_service_at_the_next_read(demo, case):
    setup, change, seen, writes_policy = case
    setup(demo)
    before = _committed_token()
    assert not seen(demo)  # and the cache is warm
    change(demo)
    assert seen(demo)  # within the transaction that made the change...
    assert (_committed_token() != before) == writes_policy  # ...and in every process after it


# name: (setup, change, seen)
ORM_CHANGES = {
    "create rule": (_nothing, _add_rule, lambda o: "Zephyr" in _rule_names(_read(o.alice))),
    "delete rule": (
        _add_rule,
        lambda o: _zephyr().delete(),
        lambda o: not _rule_names(_read(o.alice)),
    ),
    "queryset update": (
        _nothing,
        lambda o: Backend.objects.filter(pk=o.openai.pk).update(enabled=False),
        lambda o: not _backend(_read(o.alice), o.openai.name).enabled,
    ),
    "bulk create": (
        _nothing,
        lambda o: Clearance.objects.bulk_create([Clearance(category=o.confidential, user=o.alice)]),
        lambda o: 3 in _read(o.alice).cleared,
    ),
    "cascade": (
        _nothing,
        lambda o: Group.objects.get(name="Staff").delete(),
        lambda o: _read(o.alice).cleared == frozenset(),
    ),
    "raw sql": (
        _nothing,
        lambda o: connection.cursor().execute(
            "UPDATE governance_category SET name = 'In-house' WHERE number = 2"
        ),
        lambda o: _read(o.alice).categories[2].name == "In-house",
    ),
}


@pytest.mark.parametrize("case", ORM_CHANGES.values(), ids=ORM_CHANGES.keys())
def test_it_sees_a_change_made_straight_through_the_orm(demo, case):
    setup, change, seen = case
    setup(demo)
    before = _committed_token()
    assert not seen(demo)
    change(demo)
    assert seen(demo)
    assert _committed_token() != before


def test_it_reads_a_warm_policy_and_detectors_in_two_queries(demo, django_assert_max_num_queries):
    _add_rule(demo)
    _add_term_list(demo)
    carol = User.objects.get(email="carol@example.com")
    _read(demo.alice)
    with django_assert_max_num_queries(2):
        given = _read(demo.alice)
    assert given.cleared == {1, 2} and _rule_names(given) == {"Zephyr"}
    with django_assert_max_num_queries(2):  # the snapshot is shared; the groups are per user
        assert _read(carol, chosen=3).cleared == {1, 2, 3}


@pytest.mark.parametrize("model", POLICY_MODELS, ids=lambda m: m.__name__)
def test_it_bumps_the_version_on_any_write_to_a_policy_table(demo, model):
    _add_rule(demo)
    _add_term_list(demo)
    before = _committed_token()
    model.objects.filter(pk=model.objects.first().pk).update(id=F("id"))
    assert _committed_token() != before


def _permission(role: Role) -> Permission:
    return Permission.objects.get(
        content_type__app_label="governance", codename=ROLE_PERMISSIONS[role][0]
    )


def _draft(o, body: str = "Check the category before you paste.") -> PolicyDocument:
    return training_services.save_draft(
        actor=o.admin, title="Using language models", body=body, change_note=""
    )


@pytest.mark.parametrize("label", ALSO_WATCHED)
def test_it_bumps_the_version_on_any_write_to_a_table_also_watched(demo, label):
    _draft(demo)
    model = apps.get_model(label)
    before = _committed_token()
    model.objects.filter(pk=model.objects.first().pk).update(id=F("id"))
    assert _committed_token() != before


# name: (setup, change)
WATCHED_CHANGES = {
    "take a role's permission from its group": (
        _nothing,
        lambda o: Group.objects.get(name="Staff").permissions.remove(_permission(Role.STAFF)),
    ),
    "give a role's permission to another group": (
        _nothing,
        lambda o: Group.objects.get(name="Auditor").permissions.add(_permission(Role.STAFF)),
    ),
    "save a policy document draft": (_nothing, _draft),
    "edit the draft": (_draft, lambda o: _draft(o, body="Ask before you paste.")),
    "publish the policy document": (
        _draft,
        lambda o: training_services.publish(actor=o.admin, document=PolicyDocument.objects.draft()),
    ),
}


@pytest.mark.parametrize("case", WATCHED_CHANGES.values(), ids=WATCHED_CHANGES.keys())
def test_it_bumps_the_version_on_a_change_to_what_else_is_watched(demo, case):
    setup, change = case
    setup(demo)
    before = _committed_token()
    change(demo)
    assert _committed_token() != before


def test_it_sees_that_a_group_no_longer_grants_a_role(demo):
    assert holds(demo.alice, Role.STAFF, read_version(demo.alice.pk))  # warms the group map
    Group.objects.get(name="Staff").permissions.remove(_permission(Role.STAFF))
    alice = User.objects.get(pk=demo.alice.pk)  # has_perm caches on the instance
    assert not holds(alice, Role.STAFF, read_version(alice.pk))


def test_it_forgets_a_change_that_rolled_back(demo):
    assert _backend(_read(demo.alice), demo.openai.name).enabled
    with pytest.raises(RuntimeError), transaction.atomic():
        Backend.objects.update(enabled=False)
        assert not _backend(_read(demo.alice), demo.openai.name).enabled
        raise RuntimeError
    assert _backend(_read(demo.alice), demo.openai.name).enabled


def test_it_puts_back_triggers_that_a_table_rebuild_dropped(demo):
    _committed_token()  # no trigger events pending: PostgreSQL refuses to drop a trigger then
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name in ("changing", "committing", "truncated"):
                cursor.execute(f"DROP TRIGGER governance_policy_{name} ON governance_category")
        else:
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER governance_category_policy_{event}")
    before = _committed_token()
    Category.objects.update(name="Renamed")
    assert _committed_token() == before
    ensure_triggers()
    Category.objects.update(name="Renamed again")
    assert _committed_token() != before


@pytest.mark.django_db(transaction=True)
def test_it_sees_a_change_another_connection_committed(django_assert_max_num_queries):
    seed_demo_organisation()
    o = _people()
    assert not decide(_read(o.alice)).blocked
    with django_assert_max_num_queries(2):
        _read(o.alice)

    def elsewhere():  # another process, as far as the database can tell
        try:
            services.save_rule(rule=None, values={**RULE_VALUES, "action": "block"}, actor=o.admin)
        finally:
            connections.close_all()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert decide(_read(o.alice)).blocked
    with django_assert_max_num_queries(2):
        assert decide(_read(o.alice)).blocked


# --- The cached reading equals a fresh one -------------------------------------------------


def _reference(user, chosen: int, findings: tuple) -> PolicyInput:
    """The reading this cache replaced: four queries for every message."""
    categories = {
        c.number: CategorySpec(
            number=c.number, name=c.name, **{f: getattr(c, f) for f in SPEC_FIELDS}
        )
        for c in Category.objects.filter(is_active=True)
    }
    approvals: dict[int, dict[int, int]] = {}
    for backend_id, number, preference in Approval.objects.values_list(
        "backend_id", "category__number", "preference"
    ):
        approvals.setdefault(backend_id, {})[number] = preference
    backends = tuple(
        BackendSpec(
            key=str(b.public_id),
            name=b.name,
            approvals=approvals.get(b.pk, {}),
            **{f: getattr(b, f) for f in BACKEND_FIELDS},
        )
        for b in Backend.objects.all()
    )
    cleared = frozenset(Category.objects.cleared_for(user).values_list("number", flat=True))
    return PolicyInput(
        cleared=cleared,
        chosen=chosen,
        categories=categories,
        backends=backends,
        findings=findings,
        today=timezone.localdate(),
    )


def _thawed(value):
    """Plain, comparable values: a frozen tuple equals the list it came from."""
    if is_dataclass(value):
        return {f.name: _thawed(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thawed(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def _random_policy(rng: random.Random) -> list:
    groups = [Group.objects.create(name=f"Team {n}") for n in range(3)]
    groups += list(Group.objects.filter(name__in=[r.group_name for r in Role]))
    users = []
    for n in range(6):
        user = make_user(f"user{n}@example.com")
        user.groups.add(*rng.sample(groups, rng.randrange(3)))
        users.append(user)
    categories = [
        Category.objects.create(
            number=number,
            slug=f"c{number}",
            name=f"Category {number}",
            summary="-",
            is_active=rng.random() < 0.8,
            blocks_all=rng.random() < 0.1,
            allowed_hosting_classes=rng.sample(["on_prem", "private_cloud", "external_api"], 2),
            allowed_regions=rng.choice([[], ["eu"], ["eu", "us"]]),
            require_dpa=rng.random() < 0.3,
            forbid_training=rng.random() < 0.5,
            finding_actions=rng.choice([{}, {"EMAIL_ADDRESS": "block"}, {"PERSON": "warn"}]),
        )
        for number in range(1, 6)
    ]
    backends = [
        Backend.objects.create(
            name=f"Backend {n}",
            kind="ollama",
            model="m",
            hosting_class=rng.choice(["on_prem", "private_cloud", "external_api"]),
            region=rng.choice(["eu", "us", ""]),
            dpa_signed=rng.random() < 0.5,
            dpa_expires_on=rng.choice([None, timezone.localdate()]),
            enabled=rng.random() < 0.8,
            trains_on_inputs=rng.random() < 0.2,
        )
        for n in range(4)
    ]
    for category in categories:
        for backend in rng.sample(backends, rng.randrange(len(backends) + 1)):
            Approval.objects.create(category=category, backend=backend, preference=rng.randrange(9))
        for group in rng.sample(groups, rng.randrange(3)):
            Clearance.objects.create(category=category, group=group)
        for user in rng.sample(users, rng.randrange(3)):
            Clearance.objects.create(category=category, user=user)
    return [*users, AnonymousUser()]


@pytest.mark.parametrize("seed", range(5))
def test_it_reads_what_a_fresh_reading_would(db, seed):
    rng = random.Random(seed)
    people = _random_policy(rng)
    scan = detect(TEXT).scan
    forget()
    for user in people:
        expected = _reference(user, 1, scan.findings)
        for _ in range(2):  # the first read fills the cache, the second reads it
            given = policy_input(user=user, chosen=1, scan_result=scan)
            assert _thawed(given) == _thawed(expected)
        for chosen in range(1, 6):
            assert decide(replace(given, chosen=chosen)) == decide(replace(expected, chosen=chosen))
