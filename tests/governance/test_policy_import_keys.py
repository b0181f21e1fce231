"""A policy file's finding matrix is read as the console and the REST API read it.

National identifiers take one action under ``NATIONAL_ID`` (or any of their own names)
and are stored per type, as the engine looks them up; a key or an action the matrix does
not know is refused, naming it, and nothing of the file is applied.
"""

import pytest
import yaml

from audit.models import AuditEvent
from chat import services
from governance.models import Backend, Category
from governance.policy_io import PolicyFileError, apply_import, export_policy, plan_import
from governance.scanning.base import NATIONAL_IDS
from tests.chat import conftest as chat

# The chat app's fixtures: the demo organisation, its backends faked on loopback.
org, local_llm, external_llm = chat.org, chat.local_llm, chat.external_llm

SSN_TEXT = "Her SSN is 123-45-6789, please check the file."


def _file(org, actions, **changes) -> str:
    """The current policy with the confidential category's matrix (and ``changes``) as given."""
    document = yaml.safe_load(export_policy())
    for category in document["categories"]:
        if category["slug"] == org.confidential.slug:
            category["finding_actions"] = actions
            category.update(changes)
    return yaml.safe_dump(document)


def test_national_id_blocks_every_national_identifier(org):
    apply_import(_file(org, {"NATIONAL_ID": "block"}))
    stored = Category.objects.get(pk=org.confidential.pk).finding_actions
    assert stored == {str(kind): "block" for kind in sorted(map(str, NATIONAL_IDS))}
    conversation = services.start_conversation(owner=org.carol, category=org.confidential)
    sent = services.send_message(conversation=conversation, author=org.carol, text=SSN_TEXT)
    assert sent.decision.blocked, sent.decision


def test_the_matrix_is_stored_as_the_console_stores_it(org):
    # In category 3 e-mail addresses are allowed by default: saying so stores nothing.
    plan = plan_import(_file(org, {"US_SSN": "block", "EMAIL_ADDRESS": "allow"}))
    (line,) = plan.lines
    assert line.startswith("~ category confidential: finding_actions: {} → {")
    assert "'UK_NINO': 'block'" in line and "EMAIL_ADDRESS" not in line


@pytest.mark.parametrize(
    ("actions", "problem"),
    [
        ({"EMAIL": "block"}, "Unknown finding type: EMAIL."),
        ({"national_id": "block"}, "Unknown finding type: national_id."),
        ({"US_SSN": "block", "UK_NINO": "allow"}, "National identifiers take one action together."),
        ({"EMAIL_ADDRESS": "shrug"}, "EMAIL_ADDRESS: Select a valid choice. shrug is not one of"),
        ({"SECRET": "allow"}, "SECRET: Select a valid choice. allow is not one of"),
        (["block"], "Give an object: finding type -> action."),
    ],
)
def test_a_matrix_the_engine_would_not_read_is_refused_and_nothing_applied(org, actions, problem):
    text = _file(org, actions, retention_days=7)
    events = AuditEvent.objects.count()
    with pytest.raises(PolicyFileError) as caught:
        apply_import(text)
    where = "categories[2].finding_actions: "
    assert any(p.startswith(where) and problem in p for p in caught.value.problems), caught.value
    category = Category.objects.get(pk=org.confidential.pk)
    assert (category.finding_actions, category.retention_days) == (
        {},
        org.confidential.retention_days,
    )
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("name", ["STEWARD_MASTER_KEY", "secret_key_file", "OPENAI KEY"])
def test_a_backend_key_variable_the_console_refuses_is_refused_in_a_file_too(org, name):
    """A policy file cannot point a backend's key at one of Steward's own secrets."""
    document = yaml.safe_load(export_policy())
    document["backends"][0]["credential_env"] = name
    with pytest.raises(PolicyFileError) as caught:
        apply_import(yaml.safe_dump(document))
    assert any(p.startswith("backends[0].credential_env: ") for p in caught.value.problems)


def test_a_key_variable_for_a_backend_with_a_stored_key_is_refused(org):
    """The stored key is used first: the variable would be ignored without a word."""
    document = yaml.safe_load(export_policy())
    backend = Backend.objects.get(name=document["backends"][0]["name"])
    backend.seal_credential("sk-stored")
    backend.credential_env = ""
    backend.save()
    document["backends"][0]["credential_env"] = "EU_LLM_KEY"
    with pytest.raises(PolicyFileError) as caught:
        apply_import(yaml.safe_dump(document))
    assert any("has a stored key" in p for p in caught.value.problems)
