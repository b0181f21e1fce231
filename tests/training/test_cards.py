"""Cards come from the live policy: routes, retention, finding actions, examples."""

from governance.models import Approval, Backend
from training.cards import cards


def _card(number):
    return next(card for card in cards() if card.category.number == number)


def test_each_active_category_has_a_card_in_order(demo):
    assert [card.category.number for card in cards()] == [1, 2, 3, 4]
    demo.internal.is_active = False
    demo.internal.save()
    assert [card.category.number for card in cards()] == [1, 3, 4]


def test_a_card_lists_the_models_that_may_answer_in_preference_order(demo):
    card = _card(2)
    routes = [(r.name, r.hosting) for r in card.routes]
    assert routes[0] == ("OpenAI business API", "external API")
    assert ("Local Ollama", "on-premise") in routes
    assert "never a model that trains on what it is sent" in card.rules
    assert _card(3).where.startswith("Only models on our own infrastructure")
    assert "OpenAI business API" not in [r.name for r in _card(3).routes]
    assert "Local Ollama" in [r.name for r in _card(3).routes]


def test_a_card_names_the_models_it_may_go_to_in_plain_words(demo):
    where = _card(1).where
    assert "enabled" not in where and "approved" not in where
    assert where == (
        "Any of the models the company has chosen for it: "
        + ", ".join(r.name for r in _card(1).routes[:-1])
        + f" or {_card(1).routes[-1].name}."
    )
    Backend.objects.update(enabled=False)
    none = "Only a model the company has chosen for it, and none is available now."
    assert _card(1).where == none


def test_a_card_follows_policy_changes(demo):
    Approval.objects.filter(category=demo.internal, backend__name="OpenAI business API").delete()
    assert "OpenAI business API" not in [r.name for r in _card(2).routes]
    Backend.objects.update(enabled=False)
    assert _card(2).routes == []


def test_the_prohibited_card_says_nowhere_and_nothing_kept(demo):
    card = _card(4)
    assert card.blocked
    assert card.routes == []
    assert card.where.startswith("Nowhere")
    assert card.kept.startswith("Never stored")
    assert card.dont[0] == "Passwords, private keys, API tokens"


def test_a_card_says_how_long_content_is_kept(demo):
    assert _card(1).kept.startswith("90 days after the last message")
    demo.confidential.retention_days = 1
    demo.confidential.save()
    assert _card(3).kept.startswith("1 day after")


def test_a_card_shows_the_finding_matrix_with_overrides(demo):
    found = {f.label: f.action for f in _card(2).findings}
    assert found["Email addresses"] == "pseudonymise"
    assert found["Links"] == "allow"
    assert found["National identifiers"] == "pseudonymise"
    assert {f.action for f in _card(3).findings if f.label == "Email addresses"} == {"allow"}
    demo.internal.finding_actions = {"EMAIL_ADDRESS": "block", "US_SSN": "block"}
    demo.internal.save()
    found = {f.label: f.action for f in _card(2).findings}
    assert found["Email addresses"] == "block"
    assert found["National identifiers"] == "block"  # the strictest of the row's types
    grouped = dict(_card(2).grouped_findings())
    assert "email addresses" in grouped["block"]
    assert "IBANs" in grouped["pseudonymise"]


def test_a_card_carries_the_categorys_examples(demo):
    card = _card(1)
    assert card.do[0] == "Summarise a published press release"
    assert card.dont == ["A customer's email", "Unreleased figures"]


def test_no_demo_example_repeats_its_headings_verb(demo):
    """ "DON'T PASTE ✗ Paste a customer email" said paste twice."""
    for card in cards():
        for line in card.dont:
            assert not line.lower().startswith(("paste", "send", "never")), line


def test_the_prohibited_card_says_what_happens_to_a_pasted_key(demo):
    """It said "Steward blocks these messages" under "Passwords, private keys, API tokens":
    a key pasted in an Internal conversation is replaced, sent, and kept."""
    card = _card(4)
    assert "Keys and passwords are not blocked" in card.category.description
    assert "replaced by a placeholder and never reach the model" in card.category.description
    assert "the conversation keeps them" in card.category.description
    assert "those it does not recognise go through as written" in card.category.description


def test_a_card_says_which_names_steward_finds_and_what_it_cannot(client, demo):
    """ "People's names: replaced by a placeholder" read as every name; Steward finds a name
    written with a title or listed as a protected term, and health data only by the words
    the organisation's rules list (the demo blocks some: its block links card 4)."""
    client.force_login(demo.alice)
    for url in ("/training/cards/2/", "/training/cards/4/", "/training/cards/"):
        page = client.get(url).content.decode()
        assert (
            "names, unless written with a title (Mr, Dr, Frau…) or on a protected-term list" in page
        ), url
        assert (
            "sex life and other sensitive personal data, except the words the company's rules list"
            in page
        ), url
        assert "special-category" not in page, url
        assert "keys it does not recognise" in page, url
