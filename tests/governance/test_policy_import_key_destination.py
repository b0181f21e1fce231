"""A policy file moves a backend as the console does: a stored key goes only where it was
entered for, so an import that changes where it would be sent (the kind, the address, or
the region naming Bedrock's or Vertex AI's host) removes it, says so in the plan, and
records it. A file cannot carry a key, so there is never a new one to keep."""

import json

import pytest
import yaml

from audit.models import AuditEvent
from governance.models import Backend, HostingClass
from governance.policy_io import apply_import, export_policy, plan_import
from tests.factories import make_backend
from tests.governance import test_backend_key_destination as console

KEY = console.KEY
# The fake servers the console's tests move a backend between.
old, new = console.old, console.new


def _with_key(**values) -> Backend:
    backend = make_backend(
        **{"name": "OpenAI", "kind": Backend.Kind.OPENAI, "model": "gpt-4o", **values}
    )
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _edited(**changes) -> str:
    document = yaml.safe_load(export_policy())
    (backend,) = document["backends"]
    backend.update(changes)
    return yaml.safe_dump(document)


def _import_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(details__change="updated"))


def test_a_new_address_removes_the_stored_key_and_the_plan_says_so(db, old, new):
    backend = _with_key(base_url=old.url)
    text = _edited(base_url=new.url)
    assert plan_import(text).lines == [
        f"~ backend OpenAI: base_url: {old.url!r} → {new.url!r}; "
        "stored key removed: the address changed"
    ]
    backend.refresh_from_db()
    assert backend.open_credential() == KEY  # a dry run changes nothing
    apply_import(text)
    backend.refresh_from_db()
    assert backend.base_url == new.url and not backend.credential_encrypted


def test_the_removal_is_recorded_with_the_change(db, old, new):
    _with_key(base_url=old.url)
    apply_import(_edited(base_url=new.url))
    (event,) = _import_events()
    assert event.before["has_credential"] is True
    assert event.after["has_credential"] is False
    assert event.after["base_url"] == new.url
    assert event.message == "stored key removed: the address changed"
    assert KEY not in json.dumps([event.before, event.after, event.details, event.message])


def test_the_new_address_is_not_sent_the_key(client, admin, old, new):
    backend = _with_key(base_url=old.url)
    apply_import(_edited(base_url=new.url))
    client.force_login(admin)
    client.post(f"/policy/backends/{backend.public_id}/test/")
    assert new.requests, "the test connection called the new address"
    assert not [v for r in new.requests for v in r.headers.values() if KEY in v]
    assert old.requests == []


def test_changing_the_kind_removes_it_too(db, old):
    backend = _with_key(base_url=old.url)
    (line,) = plan_import(_edited(kind="mistral")).lines
    assert line.endswith("; stored key removed: the kind changed")
    apply_import(_edited(kind="mistral"))
    backend.refresh_from_db()
    assert not backend.credential_encrypted


def test_a_region_naming_the_host_counts_as_the_address(db):
    backend = _with_key(
        name="Bedrock",
        kind=Backend.Kind.BEDROCK,
        base_url="",
        model="eu.anthropic.claude-x-v1:0",
        region="eu-central-1",
        hosting_class=HostingClass.PRIVATE_CLOUD,
    )
    (line,) = plan_import(_edited(region="us-east-1")).lines
    assert line == (
        "~ backend Bedrock: region: 'eu-central-1' → 'us-east-1'; "
        "stored key removed: the region changed"
    )
    apply_import(_edited(region="us-east-1"))
    backend.refresh_from_db()
    assert not backend.credential_encrypted


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4.1"},
        {"region": "us"},  # for this kind only a routing attribute
        {"context_tokens": 64000},
    ],
)
def test_a_change_that_keeps_the_address_keeps_the_key(db, old, change):
    backend = _with_key(base_url=old.url)
    (line,) = plan_import(_edited(**change)).lines
    assert "stored key" not in line
    apply_import(_edited(**change))
    backend.refresh_from_db()
    assert backend.open_credential() == KEY
    (event,) = _import_events()
    assert "has_credential" not in event.after and event.message == ""


def test_a_variable_may_replace_the_key_the_move_removes(db, old, new):
    """The stored key goes with the move, so the file's variable is the one used, and is
    not refused as a variable beside a stored key is."""
    backend = _with_key(base_url=old.url)
    apply_import(_edited(base_url=new.url, credential_env="EU_LLM_KEY"))
    backend.refresh_from_db()
    assert not backend.credential_encrypted and backend.credential_env == "EU_LLM_KEY"


def test_a_move_forgets_the_old_addresss_health(db, old, new):
    backend = _with_key(base_url=old.url, health_latency_ms=12, health_error="")
    Backend.objects.filter(pk=backend.pk).update(health_checked_at="2030-01-01T00:00:00Z")
    apply_import(_edited(base_url=new.url))
    backend.refresh_from_db()
    assert (backend.health_checked_at, backend.health_latency_ms) == (None, None)
