import pytest

from audit.models import AuditEvent
from governance.demo import seed_demo_organisation
from governance.models import Category, User

HTMX = {"HTTP_HX_REQUEST": "true"}
TEXT = "Please write to jane.doe@example.com about card 4111 1111 1111 1111."


def _post(client, **data):
    return client.post("/policy/simulator/", data, **HTMX)


def _setup(client):
    seed_demo_organisation()
    admin = User.objects.get(email="paula@example.com")
    client.force_login(admin)
    return admin


def test_it_shows_findings_and_the_decision_for_a_sender_and_category(client, db):
    _setup(client)
    alice = User.objects.get(email="alice@example.com")
    response = _post(client, text=TEXT, user=alice.public_id, category=1)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Pseudonymised" in page
    # Each mark says what was found in words (it showed EMAIL_ADDRESS, CREDIT_CARD).
    assert 'title="Email address">jane.doe@example.com' in page
    assert 'title="Payment card number">4111 1111 1111 1111' in page
    assert "EMAIL_ADDRESS" not in page and "CREDIT_CARD" not in page
    assert "1 payment card number, 1 email address will be replaced before sending to" in page


def test_it_blocks_a_category_the_sender_is_not_cleared_for(client, db):
    _setup(client)
    alice = User.objects.get(email="alice@example.com")
    page = _post(client, text=TEXT, user=alice.public_id, category=3).content.decode()
    assert "Blocked" in page and "not cleared for category 3" in page


def test_confidential_data_routes_on_premise_only(client, db):
    _setup(client)
    carol = User.objects.get(email="carol@example.com")
    page = _post(client, text=TEXT, user=carol.public_id, category=3).content.decode()
    assert "Allowed" in page and "Local Ollama" in page and "OpenAI" not in page


def test_prohibited_is_always_blocked(client, db):
    _setup(client)
    category = Category.objects.get(number=4)
    carol = User.objects.get(email="carol@example.com")
    from governance.models import Clearance

    Clearance.objects.create(category=category, user=carol)
    page = _post(client, text="hello", user=carol.public_id, category=4).content.decode()
    assert "never sent to any model" in page


def test_markup_in_the_text_is_escaped(client, db):
    _setup(client)
    page = _post(
        client,
        text="<script>alert(1)</script> a@b.io",
        user=User.objects.first().public_id,
        category=1,
    ).content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_bad_input_is_explained_and_nothing_is_recorded(client, db):
    admin = _setup(client)
    before = AuditEvent.objects.count()
    response = _post(client, text="", user=admin.public_id, category=9)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Write a message first." in page  # the chat's words
    assert "Choose one of the categories listed" in page
    assert "This field is required" not in page and "Select a valid choice" not in page
    # The decision panel says why nothing was simulated (it said "Paste a message").
    assert "Not simulated" in page and "Paste a message and press Simulate" not in page
    assert AuditEvent.objects.count() == before


def test_a_message_past_the_limit_is_refused_as_the_chat_refuses_it_and_kept(client, db):
    """The box had maxlength="32000": the browser cut a longer paste, and the decision shown
    was the one on the shortened text, which the chat never makes."""
    from chat.services import MAX_MESSAGE_CHARS, ChatError, clean_text

    admin = _setup(client)
    box = client.get("/policy/simulator/").content.decode().split("<textarea", 1)[1]
    assert "maxlength" not in box.split(">", 1)[0]
    text = "x" * MAX_MESSAGE_CHARS + " tail-end-marker"
    with pytest.raises(ChatError) as chat_says:
        clean_text(text)
    response = _post(client, text=text, user=admin.email, category=1)
    page = response.content.decode()
    assert response.status_code == 422
    assert str(chat_says.value) in page and "Decision" in page and "Not simulated" in page
    assert "tail-end-marker</textarea>" in page  # the whole text, to shorten there


def test_the_message_is_decided_on_as_the_chat_cleans_it(client, db):
    """Windows line ends count once, as in the chat: a message at the limit is simulated."""
    from chat.services import MAX_MESSAGE_CHARS

    admin = _setup(client)
    text = "a\r\n" * (MAX_MESSAGE_CHARS // 2)
    response = _post(client, text=text, user=admin.email, category=1)
    assert response.status_code == 200 and "Allowed" in response.content.decode()


def test_the_text_is_not_stored_anywhere(client, db):
    _setup(client)
    marker = "zebra-marker-7f3a@example.com"
    _post(client, text=marker, user=User.objects.first().public_id, category=1)
    assert not any(marker in str(row) for row in AuditEvent.objects.values())


def test_rules_and_protected_terms_take_part(client, db):
    from governance.models import DetectionRule, ProtectedTermList

    _setup(client)
    DetectionRule.objects.create(
        name="Privilege",
        reason="attorney-client material",
        kind="keywords",
        pattern="privileged & confidential",
        action="escalate",
        min_category=Category.objects.get(number=4),
    )
    clients = ProtectedTermList(name="Clients", kind="client")
    clients.set_terms(["Globex"])
    clients.save()
    alice = User.objects.get(email="alice@example.com")
    page = _post(client, text="Globex update", user=alice.public_id, category=1).content.decode()
    assert 'title="Protected term">Globex' in page and "1 protected term will be replaced" in page
    page = _post(
        client, text="Privileged & Confidential memo", user=alice.public_id, category=1
    ).content.decode()
    assert "never sent to any model" in page and "attorney-client material" in page


def test_it_says_whose_words_the_reasons_are_in(client, db):
    """Simulated as Alice, "you are not cleared" read as if the admin were not."""
    _setup(client)
    alice = User.objects.get(email="alice@example.com")
    page = _post(client, text=TEXT, user=alice.public_id, category=3).content.decode()
    assert "you are not cleared" in page.lower()
    assert "Worded as Alice Martin would read it when sending." in page


def test_the_sender_is_typed_as_an_email_address_and_no_one_is_listed(client, db):
    """A select of every active person grew with the company (154 KB at 2,000 people)."""
    admin = _setup(client)
    page = client.get("/policy/simulator/").content.decode()
    assert f'value="{admin.email}"' in page and "alice@example.com" not in page
    page = _post(client, text=TEXT, user=" Alice@Example.com", category=3).content.decode()
    assert "not cleared for category 3" in page
    refused = _post(client, text=TEXT, user="nobody@example.com", category=1)
    assert refused.status_code == 422
    assert "No active person has the email address “nobody@example.com”." in (
        refused.content.decode()
    )
