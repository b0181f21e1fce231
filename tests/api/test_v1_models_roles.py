"""GET /v1/models lists what the token's owner may use, as POST /v1/chat/completions accepts
it: only the Staff role chats with models, so a token of anyone else lists none (it listed
the backends of the categories they were cleared for, which the completions then refused)."""

import openai
import pytest

from audit.models import AuditEvent
from governance.models import Clearance
from governance.roles import Role
from tests.factories import make_user


@pytest.fixture
def auditor(org):
    """An auditor cleared personally for category 1 (a clearance left from a Staff role
    since taken away, say), who does not hold the Staff role."""
    person = make_user("auditor@example.com", Role.AUDITOR)
    Clearance.objects.create(category=org.public, user=person)
    return person


def test_a_token_of_someone_who_may_not_chat_lists_no_model(org, openai_for, auditor):
    client = openai_for(auditor)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.models.list()
    assert refused.value.body["code"] == "not_staff"
    assert refused.value.body["message"] == "Only the Staff role may chat with models."
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.models.retrieve("local-ollama")
    assert refused.value.body["code"] == "not_staff"
    with pytest.raises(openai.PermissionDeniedError) as refused:  # as the completions say
        client.chat.completions.create(
            model="local-ollama", messages=[{"role": "user", "content": "Hello"}]
        )
    assert refused.value.body["code"] == "not_staff"


def test_a_refused_listing_is_recorded_as_refused(org, openai_for, auditor):
    with pytest.raises(openai.PermissionDeniedError):
        openai_for(auditor).models.list()
    event = AuditEvent.objects.get(action="api.request", actor=auditor)
    assert event.outcome == AuditEvent.Outcome.BLOCKED
    assert event.details["path"] == "/v1/models"


def test_each_model_listed_is_one_the_completions_accept(org, openai_for):
    client = openai_for(org.carol)
    for model in client.models.list():
        for number in model.steward["categories"]:
            raw = client.chat.completions.with_raw_response.create(
                model=model.id,
                messages=[{"role": "user", "content": "Hello"}],
                extra_headers={"X-Steward-Category": str(number)},
            )
            assert raw.http_response.status_code == 200, (model.id, number)
