"""Hosting classes are said in one set of words: HostingClass's labels, which the policy's
mid-sentence names derive from (three copies of them disagreed: a template, the model's
choices and the policy's lower-case dict)."""

from governance.models import HostingClass
from governance.policy import HOSTING_LABELS, hosting_name
from tests.factories import make_category


def test_the_hosting_classes_labels_are_the_policys_words():
    assert dict(HostingClass.choices) == HOSTING_LABELS


def test_a_sentence_names_a_hosting_class_by_its_label_lowered():
    assert [hosting_name(value) for value in HostingClass.values] == [
        "on-premise",
        "private cloud",
        "external API",
    ]
    assert hosting_name("somewhere_else") == "somewhere_else"


def test_the_mid_sentence_name_follows_a_changed_label(monkeypatch):
    monkeypatch.setitem(HOSTING_LABELS, "on_prem", "On-site")
    assert hosting_name("on_prem") == "on-site"


def test_the_console_badges_a_categorys_hosting_by_its_label(client, admin):
    make_category(allowed_hosting_classes=["on_prem", "external_api"])
    client.force_login(admin)
    page = client.get("/policy/").content.decode()
    assert '<span class="badge">On-premise</span><span class="badge">External API</span>' in page
