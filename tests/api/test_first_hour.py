"""A developer's first hour with /v1 through the official client: each mistake they are
likely to make answers with words that say what is wrong and what to do next."""

import httpx
import openai
import pytest

from governance.demo import publish_demo_policy
from governance.models import Clearance
from governance.roles import Role

INTERNAL = {"X-Steward-Category": "internal"}


def _ask(client: openai.OpenAI, text: str = "Hello", **kwargs):
    return client.chat.completions.create(
        model=kwargs.pop("model", "auto"),
        messages=[{"role": "user", "content": text}],
        **kwargs,
    )


def test_it_tells_a_client_where_to_acknowledge_the_policy(org, live_server, openai_for):
    """The demo publishes a policy: a new staff member's first request is refused until they
    acknowledge it, and the refusal says where (the client shows only the message)."""
    publish_demo_policy()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice), extra_headers=INTERNAL)
    assert refused.value.body["code"] == "acknowledgement_required"
    assert f"{live_server.url}/training/acknowledge/" in refused.value.body["message"]
    assert org.local.requests == [] and org.external.requests == []


def _made_on_the_page(signed_in_now, user) -> str:
    client = signed_in_now(user)
    response = client.post("/settings/tokens/", {"name": "notebook", "expires_in_days": "30"})
    assert response.status_code == 200 and "Your new token" in response.content.decode()
    return response.content.decode()


def test_a_new_token_comes_with_the_policy_to_acknowledge_first(org, signed_in_now):
    from tests.factories import make_user

    publish_demo_policy()
    page = _made_on_the_page(signed_in_now, make_user("dev@example.com", Role.STAFF))
    assert "acknowledged the usage policy" in page
    assert 'href="/training/acknowledge/?next=/settings/tokens/"' in page


def test_a_new_token_says_nothing_of_it_once_acknowledged(org, signed_in_now):
    from tests.factories import make_user
    from training.models import PolicyDocument
    from training.services import acknowledge

    publish_demo_policy()
    developer = make_user("dev@example.com", Role.STAFF)
    acknowledge(user=developer, document=PolicyDocument.objects.get())
    assert 'href="/training/acknowledge/' not in _made_on_the_page(signed_in_now, developer)


def test_a_blocked_request_says_blocked_once_and_that_nothing_was_sent(org, openai_for):
    text = "My colleague was diagnosed with diabetes: what should I tell the team?"
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice), text, extra_headers=INTERNAL)
    message = refused.value.body["message"]
    assert refused.value.body["code"] == "blocked"
    assert message.count("Blocked") == 1, message
    assert "Health information" in message and "Nothing was sent to a model." in message
    assert "diabetes" not in message


def test_an_unknown_model_says_where_the_models_are_listed(org, openai_for):
    with pytest.raises(openai.NotFoundError) as refused:
        _ask(openai_for(org.alice), model="gpt-4o", extra_headers=INTERNAL)
    message = refused.value.body["message"]
    assert "'gpt-4o'" in message and "/v1/models" in message and "'auto'" in message


def test_an_uncleared_category_names_the_ones_the_user_may_use(org, openai_for):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice), extra_headers={"X-Steward-Category": "confidential"})
    message = refused.value.body["message"]
    assert refused.value.body["code"] == "request_refused"
    assert "not cleared for category 3" in message
    assert "1 (public)" in message and "2 (internal)" in message
    assert "policy admin" in message


def test_someone_cleared_for_no_category_is_told_whom_to_ask(org, openai_for):
    Clearance.objects.all().delete()  # the demo clears staff through their group
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice))
    assert refused.value.body["code"] == "not_cleared"
    assert "policy admin" in refused.value.body["message"]


def test_bad_json_says_where_it_went_wrong(org, live_server, token_for):
    _, secret = token_for(org.alice)
    response = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        content=b'{"model": "auto", "messages": [{"role": "user", "content": "Hi"},]}',
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "line 1, column" in error["message"], error["message"]


def test_too_long_a_request_says_what_to_do_in_either_api(org, openai_for):
    client = openai_for(org.alice)
    with pytest.raises(openai.BadRequestError) as chat:
        _ask(client, "word " * 7_000, extra_headers=INTERNAL)
    with pytest.raises(openai.BadRequestError) as responses:
        client.responses.create(model="auto", input="word " * 7_000, extra_headers=INTERNAL)
    for refused, param in ((chat, "messages"), (responses, "input")):
        assert refused.value.body["code"] == "context_length_exceeded"
        message = refused.value.body["message"]
        assert f"The text in '{param}' is 35,000 characters" in message, message
        assert "Send less" in message


def test_an_unknown_category_names_the_ones_the_user_may_use(org, openai_for):
    with pytest.raises(openai.NotFoundError) as refused:
        _ask(openai_for(org.alice), extra_headers={"X-Steward-Category": "secret"})
    message = refused.value.body["message"]
    assert "There is no category 'secret'." in message
    assert "1 (public), 2 (internal)" in message


@pytest.mark.django_db
def test_a_key_that_is_not_stewards_says_where_to_make_one():
    """An OPENAI_API_KEY picked up by mistake: the answer says what Steward's tokens look
    like and where to make one."""
    from api.services import TokenRefused, authenticate

    with pytest.raises(TokenRefused) as refused:
        authenticate("sk-proj-not-steward-at-all")
    assert "start with stw_" in str(refused.value)
    assert "API tokens" in str(refused.value)
