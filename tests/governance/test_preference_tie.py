"""Two backends approved with one preference for a category: the engine tries them by name,
which nobody chose, and the console said nothing. The approvals page and the category's
page now say which goes first and how to choose."""

from django.utils import timezone

from governance.models import Approval
from governance.policy import eligible_backends
from governance.simulation import _read_policy
from tests.factories import make_backend, make_category
from tests.governance.console import HTMX

NOTICE = (
    "Two backends share preference 1 for Public: Built-in model is tried first (by name). "
    "Give each its own number to choose."
)


def _approve(category, backend, preference: int) -> Approval:
    return Approval.objects.create(category=category, backend=backend, preference=preference)


def _tied():
    public = make_category()
    openai = make_backend(name="OpenAI business API", hosting_class="external_api")
    builtin = make_backend(name="Built-in model")
    _approve(public, openai, 1)
    _approve(public, builtin, 1)
    _approve(public, make_backend(name="Local Ollama"), 2)
    return public, openai, builtin


def test_a_shared_preference_is_named_on_the_approvals_and_category_pages(client, admin):
    _tied()
    client.force_login(admin)
    for url in ("/policy/approvals/", "/policy/categories/public/"):
        page = client.get(url).content.decode()
        assert page.count(NOTICE) == 1, url


def test_the_backend_named_first_is_the_one_the_engine_tries_first(admin):
    _tied()
    policy = _read_policy()
    first = eligible_backends(policy.categories[1], policy.backends, today=timezone.localdate())
    assert first[0].name == "Built-in model"


def test_own_numbers_say_nothing(client, admin):
    public = make_category()
    _approve(public, make_backend(name="OpenAI business API"), 1)
    _approve(public, make_backend(name="Built-in model"), 2)
    _approve(make_category(number=2, slug="internal", name="Internal"),
             make_backend(name="Azure"), 1)  # fmt: skip
    client.force_login(admin)
    assert "share preference" not in client.get("/policy/approvals/").content.decode()


def test_a_backend_that_is_not_tried_makes_no_tie(client, admin):
    """Disabled, or no longer meeting the category's requirements: the other is tried."""
    public, openai, _ = _tied()
    openai.enabled = False
    openai.save()
    client.force_login(admin)
    assert "share preference" not in client.get("/policy/approvals/").content.decode()
    openai.enabled = True
    openai.save()
    public.require_dpa = True  # the external API has none: only the built-in model is tried
    public.save()
    page = client.get("/policy/approvals/").content.decode()
    assert "No longer met" in page and "share preference" not in page


def test_the_panel_says_it_when_a_preference_change_makes_or_ends_a_tie(client, admin):
    public, openai, _ = _tied()
    client.force_login(admin)
    url = f"/policy/approvals/{public.slug}/{openai.public_id}/preference/"
    panel = client.post(url, {"preference": "5"}, **HTMX).content.decode()
    assert "<html" not in panel and 'id="approvals-panel"' in panel
    assert "share preference" not in panel
    panel = client.post(url, {"preference": "2"}, **HTMX).content.decode()
    assert (
        "Two backends share preference 2 for Public: Local Ollama is tried first (by name)."
        in panel
    )
