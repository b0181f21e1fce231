"""Categories: create, edit requirements, the finding matrix, retire."""

import pytest

from governance.models import Category
from tests.factories import make_category
from tests.governance.console import HTMX, only_event, policy_events


def _form(**overrides) -> dict:
    values = {
        "number": "2",
        "slug": "internal",
        "name": "Internal",
        "summary": "Business information.",
        "retention_days": "30",
        "allowed_hosting_classes": ["on_prem", "private_cloud"],
        "forbid_training": "on",
        "allowed_regions": "EU, ch, eu",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_it_creates_a_category(client, admin):
    client.force_login(admin)
    response = client.post("/policy/categories/new/", _form())
    assert response.status_code == 302 and response["Location"] == "/policy/categories/internal/"
    category = Category.objects.get()
    assert category.allowed_hosting_classes == ["on_prem", "private_cloud"]
    assert category.allowed_regions == ["ch", "eu"]
    assert category.forbid_training and not category.require_dpa
    event = only_event()
    assert event.before is None and event.after["number"] == 2
    assert event.target_type == "governance.category"


def test_bad_input_is_explained_and_nothing_saved(client, admin):
    make_category()
    client.force_login(admin)
    response = client.post(
        "/policy/categories/new/",
        _form(number="1", slug="public", name="", blocks_all="on", retention_days="7"),
        **HTMX,
    )
    assert response.status_code == 422
    assert b"<html" not in response.content and b'id="category-form"' in response.content
    text = response.content.decode()
    assert "Level 1 is already Public&#x27;s: choose a level no category has." in text
    assert "A category with this short name already exists." in text
    assert "Give the category a name." in text and "This field is required." not in text
    assert "A prohibited category stores nothing" in text
    assert Category.objects.count() == 1
    assert policy_events() == []


def test_an_edit_records_before_and_after_and_keeps_the_level(client, admin):
    make_category()
    client.force_login(admin)
    response = client.post(
        "/policy/categories/public/",
        _form(
            number="9", slug="other", name="Public", summary="Already public.", retention_days="60"
        ),
    )
    assert response.status_code == 302
    category = Category.objects.get()
    assert (category.number, category.slug) == (1, "public")  # fixed once created
    event = only_event()
    assert event.before["retention_days"] == 90 and event.after["retention_days"] == 60
    assert event.after["allowed_regions"] == ["ch", "eu"]
    assert "number" not in event.after
    page = client.get("/policy/categories/public/").content.decode()
    assert "Category edited" in page and "Keep conversations for (days)" in page


def test_the_finding_matrix_shows_defaults_and_stores_overrides(client, admin):
    make_category(number=2, slug="internal", name="Internal")
    client.force_login(admin)
    page = client.get("/policy/categories/internal/").content.decode()
    assert "Default: replace" in page and "Default: allow" in page  # URLs pass by default
    response = client.post(
        "/policy/categories/internal/findings/",
        {
            "CREDIT_CARD": "block",
            "EMAIL_ADDRESS": "pseudonymise",
            "NATIONAL_ID": "block",
            "URL": "",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/policy/categories/internal/"
    actions = Category.objects.get().finding_actions
    # choosing the default stores nothing; the national-identifier row sets every such type
    assert actions["CREDIT_CARD"] == "block" and "EMAIL_ADDRESS" not in actions
    assert actions["US_SSN"] == actions["UK_NINO"] == "block"
    event = only_event()
    assert event.before == {"finding_actions": {}}
    assert event.after["finding_actions"]["CREDIT_CARD"] == "block"


def test_the_matrix_refuses_letting_secrets_out(client, admin):
    make_category(number=2, slug="internal", name="Internal")
    client.force_login(admin)
    response = client.post("/policy/categories/internal/findings/", {"SECRET": "allow"}, **HTMX)
    assert response.status_code == 422
    assert b'id="finding-matrix"' in response.content and b"<html" not in response.content
    assert b"Select a valid choice" in response.content
    assert Category.objects.get().finding_actions == {}
    assert policy_events() == []


def test_a_prohibited_category_has_no_matrix_to_edit(client, admin):
    make_category(
        number=4, slug="prohibited", name="Prohibited", blocks_all=True, retention_days=None
    )
    client.force_login(admin)
    page = client.get("/policy/categories/prohibited/").content.decode()
    assert "Every message in this category is blocked" in page
    assert "Save finding actions" not in page


def test_a_prohibited_category_offers_no_approval_or_clearance(client, admin):
    """It said "no backend may be approved" beside "Approve a backend" and "Manage
    clearances", which can only be refused for it."""
    make_category(number=2, slug="internal", name="Internal")
    make_category(
        number=4, slug="prohibited", name="Prohibited", blocks_all=True, retention_days=None
    )
    client.force_login(admin)
    page = client.get("/policy/categories/prohibited/").content.decode()
    assert "Approve a backend" not in page and "Manage clearances" not in page
    assert "nobody may be cleared" in page
    page = client.get("/policy/categories/internal/").content.decode()
    assert "Approve a backend" in page and "Manage clearances" in page


def test_a_clearance_left_on_a_prohibited_category_can_be_found_to_revoke(client, admin):
    """Cleared before it was made prohibited: shown, with the page to revoke it on."""
    from governance.models import Clearance

    category = make_category(number=2, slug="internal", name="Internal")
    Clearance.objects.create(category=category, user=admin)
    Category.objects.filter(pk=category.pk).update(blocks_all=True, retention_days=None)
    client.force_login(admin)
    page = client.get("/policy/categories/internal/").content.decode()
    assert "Revoke on the clearances page" in page and admin.display_name in page
    assert "Manage clearances" not in page


def test_retiring_asks_first_and_is_recorded(client, admin):
    make_category()
    client.force_login(admin)
    page = client.get("/policy/categories/public/").content.decode()
    assert 'data-confirm="Retire Public?' in page
    response = client.post("/policy/categories/public/state/", {"active": "0"})
    assert response.status_code == 302
    assert Category.objects.get().is_active is False
    event = only_event()
    assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})


def test_the_editor_says_what_each_save_button_saves(client, admin):
    """Two forms on one page: each under its own heading, its button named for what it saves."""
    make_category(number=2, slug="internal", name="Internal")
    client.force_login(admin)
    page = client.get("/policy/categories/internal/").content.decode()
    settings, matrix = page.split('id="finding-matrix"')
    assert "<h2>Category settings</h2>" in settings and "Save category settings" in settings
    assert "<h2>What findings do here</h2>" in matrix and "Save finding actions" in matrix
    assert "Save changes" not in page


@pytest.mark.parametrize(
    ("number", "says"),
    [
        (2, "at level 2, names, email addresses, protected terms and the other identifiers "
            "below are replaced by placeholders before a model sees them, where Steward "
            "recognises them (a name only after a title, such as Dr Jane Roe, or on a "
            "protected-term list: any other name is sent as written)"),
        (3, "at level 3, names, email addresses, protected terms and the other identifiers "
            "below are sent as written, as only our own infrastructure receives this category"),
    ],
)  # fmt: skip
def test_the_matrix_says_in_plain_words_what_default_means_here(client, admin, number, says):
    make_category(number=number, slug="here", name="Here")
    client.force_login(admin)
    page = client.get("/policy/categories/here/").content.decode()
    assert says in page
    assert "Secrets and credentials are always replaced" in page


def test_the_policy_page_shows_each_categorys_name_as_a_link(client, admin):
    """The only way into a category's editor: it looks like the backends' links beside it."""
    make_category()
    make_category(number=4, slug="prohibited", name="Prohibited", blocks_all=True,
                  retention_days=None)  # fmt: skip
    client.force_login(admin)
    page = client.get("/policy/").content.decode()
    assert (
        '<a class="cat-link" href="/policy/categories/public/"><span class="cat cat-1">'
        '<span class="cat-num">1</span><span class="cat-link-name">Public</span></span></a>'
    ) in page
    assert "never stored" in page and "not stored" not in page


def test_a_category_of_level_4_or_above_keeps_no_content_even_without_block_all(client, admin):
    """Level 4 and above is prohibited whether or not "blocks all" is ticked: it was refused
    a retention period only with the box ticked, and kept a period nothing ever used."""
    client.force_login(admin)
    response = client.post(
        "/policy/categories/new/",
        _form(number="5", slug="secret-projects", name="Secret projects", retention_days="7"),
        **HTMX,
    )
    assert response.status_code == 422
    assert "A prohibited category stores nothing: leave retention empty." in response.text
    assert not Category.objects.filter(slug="secret-projects").exists()
