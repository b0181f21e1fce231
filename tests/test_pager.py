"""The one pager partial under the three paged lists: it keeps each list's filter, and the
released holds' anchor, from page to page."""

import importlib

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from governance.models import User
from governance.roles import Role
from privacy.models import LegalHold

pytestmark = pytest.mark.django_db

PAGER = "partials/pager.html"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _staff(n: int) -> None:
    made = User.objects.bulk_create(
        User(email=f"p{i:03}@corp.example", full_name=f"Person {i:03}") for i in range(n)
    )
    Group.objects.get(name=Role.STAFF.group_name).user_set.add(*made)


def _templates(response) -> list[str]:
    return [template.name for template in response.templates]


def test_it_keeps_the_users_filter_across_pages(client, admin, monkeypatch):
    # The package's ``users`` view hides its module of the same name from a dotted path.
    monkeypatch.setattr(importlib.import_module("governance.views.users"), "PEOPLE_PER_PAGE", 2)
    _staff(5)
    client.force_login(admin)
    found = client.get(reverse("governance:users"), {"q": "Person 00"}, **HTMX)
    assert PAGER in _templates(found)
    html = found.content.decode()
    assert '<nav class="pager" aria-label="Pages">' in html
    assert "1–2 of 5" in html
    assert 'href="?q=Person+00&amp;page=2">Next →</a>' in html
    second = client.get(reverse("governance:users"), {"q": "Person 00", "page": 2})
    assert 'href="?q=Person+00&amp;page=1">← Previous</a>' in second.content.decode()


def test_it_keeps_the_training_reports_tab_across_pages(
    client, admin, monkeypatch, django_capture_on_commit_callbacks
):
    from training import services

    monkeypatch.setattr("training.views.PEOPLE_PER_PAGE", 2)
    _staff(5)
    draft = services.save_draft(actor=admin, title="Policy", body="Be careful.", change_note="")
    with django_capture_on_commit_callbacks(execute=True):
        services.publish(actor=admin, document=draft)
    client.force_login(admin)
    pending = client.get(reverse("training:report"), {"show": "pending"})
    assert PAGER in _templates(pending)
    html = pending.content.decode()
    assert '<nav class="pager" aria-label="Pages">' in html
    assert "1–2 of 5" in html
    assert 'href="?show=pending&amp;page=2">Next →</a>' in html
    unknown_tab = client.get(reverse("training:report"), {"show": "nonsense"})
    assert 'href="?page=2">Next →</a>' in unknown_tab.content.decode()


def test_it_brings_the_released_holds_back_into_view_across_pages(
    client, privacy_officer, member, monkeypatch
):
    monkeypatch.setattr("privacy.views.legal_holds.RELEASED_PER_PAGE", 2)
    now = timezone.now()
    LegalHold.objects.bulk_create(
        LegalHold(user=member, reason="Closed case", placed_at=now, released_at=now)
        for _ in range(5)
    )
    client.force_login(privacy_officer)
    holds = client.get(reverse("privacy:holds"), {"page": 2})
    assert PAGER in _templates(holds)
    html = holds.content.decode()
    assert '<nav class="pager" aria-label="Pages of released holds">' in html
    assert "3–4 of 5" in html
    assert 'href="?page=1#released-holds">← Previous</a>' in html
    assert 'href="?page=3#released-holds">Next →</a>' in html


def test_a_single_page_has_no_pager(client, admin):
    client.force_login(admin)
    html = client.get(reverse("governance:users")).content.decode()
    assert 'class="pager"' not in html
