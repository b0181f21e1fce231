"""Approvals: a backend for a category, refused when it breaks a requirement."""

import datetime as dt

from governance.models import Approval
from tests.factories import make_backend, make_category
from tests.governance.console import HTMX, only_event, policy_events


def _confidential():
    return make_category(
        number=3,
        slug="confidential",
        name="Confidential",
        allowed_hosting_classes=["on_prem", "private_cloud"],
        forbid_training=True,
        require_dpa=True,
    )


def test_it_approves_a_backend_that_meets_the_requirements(client, admin):
    category, backend = _confidential(), make_backend()
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "confidential", "backend": backend.public_id, "preference": "10"},
    )
    assert response.status_code == 302
    approval = Approval.objects.get()
    assert (approval.category, approval.backend, approval.preference) == (category, backend, 10)
    assert approval.approved_by == admin
    event = only_event()
    assert event.target_type == "governance.approval"
    assert event.before is None
    assert event.after == {
        "category": 3,
        "backend": str(backend.public_id),
        "backend_name": "Local Ollama",
        "preference": 10,
    }


def test_htmx_re_renders_the_panel_with_the_new_row(client, admin):
    _confidential()
    backend = make_backend()
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "confidential", "backend": backend.public_id, "preference": "10"},
        **HTMX,
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="approvals-panel"' in response.content
    assert b"Local Ollama approved for Confidential." in response.content


def test_it_refuses_an_approval_that_breaks_requirements_naming_each(client, admin):
    _confidential()
    backend = make_backend(
        name="Public API", hosting_class="external_api", trains_on_inputs=True, dpa_signed=False
    )
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "confidential", "backend": backend.public_id, "preference": "10"},
        **HTMX,
    )
    assert response.status_code == 422
    text = response.content.decode().replace("&#x27;", "'")
    assert (
        "Confidential needs an on-premise or private cloud backend; "
        "Public API is an external API backend." in text
    )
    assert "Confidential forbids backends that train on inputs." in text
    assert "Confidential needs a signed data processing agreement." in text
    # and what to do about it
    assert "Choose a backend that meets what Confidential requires, or change what" in text
    assert Approval.objects.count() == 0
    assert policy_events() == []


def test_an_expired_dpa_is_named(client, admin):
    _confidential()
    backend = make_backend(
        name="Cloud",
        hosting_class="private_cloud",
        dpa_signed=True,
        dpa_expires_on=dt.date(2020, 1, 1),
    )
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "confidential", "backend": backend.public_id, "preference": "1"},
    )
    assert response.status_code == 422
    assert "Cloud&#x27;s expired on 2020-01-01" in response.content.decode()
    assert Approval.objects.count() == 0


def test_a_prohibited_category_accepts_no_approval(client, admin):
    make_category(number=4, slug="prohibited", name="Prohibited", blocks_all=True)
    backend = make_backend()
    client.force_login(admin)
    page = client.get("/policy/approvals/").content.decode()
    assert 'value="prohibited"' not in page  # not offered
    response = client.post(
        "/policy/approvals/",
        {"category": "prohibited", "backend": backend.public_id, "preference": "1"},
    )
    assert response.status_code == 422
    assert b"Prohibited is prohibited: no backend may receive it." in response.content
    assert Approval.objects.count() == 0


def test_the_service_refuses_too(admin):
    """The form is not the only guard: the service checks inside its transaction."""
    import pytest

    from governance.services import PolicyError, approve_backend

    category = make_category(number=4, slug="prohibited", name="Prohibited", blocks_all=True)
    with pytest.raises(PolicyError, match="prohibited"):
        approve_backend(category=category, backend=make_backend(), preference=1, actor=admin)
    assert policy_events() == []


def test_duplicates_and_missing_fields_are_explained(client, admin):
    category, backend = make_category(), make_backend()
    Approval.objects.create(category=category, backend=backend)
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "public", "backend": backend.public_id, "preference": "1"},
    )
    assert b"Local Ollama is already approved for Public." in response.content
    response = client.post("/policy/approvals/", {"category": "", "preference": "0"})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Choose the category the backend is to serve." in page
    assert "Choose the backend to approve." in page
    assert "Give a whole number from 1 (tried first) to 1000." in page
    assert "This field is required." not in page and "greater than or equal" not in page
    assert Approval.objects.count() == 1


def test_revoking_asks_first_and_is_recorded(client, admin):
    category, backend = make_category(), make_backend()
    Approval.objects.create(category=category, backend=backend, preference=5)
    client.force_login(admin)
    page = client.get("/policy/approvals/").content.decode()
    assert 'data-confirm="Revoke Local Ollama for Public?' in page
    response = client.post(f"/policy/approvals/public/{backend.public_id}/revoke/", **HTMX)
    assert response.status_code == 200
    assert b'id="approvals-panel"' in response.content and b"<html" not in response.content
    assert Approval.objects.count() == 0
    event = only_event()
    assert event.before["preference"] == 5 and event.after is None


def test_revoking_something_that_is_not_there_is_404(client, admin):
    backend = make_backend()
    make_category()
    client.force_login(admin)
    response = client.post(f"/policy/approvals/public/{backend.public_id}/revoke/")
    assert response.status_code == 404


def test_approvals_that_no_longer_hold_are_flagged(client, admin):
    category = make_category(require_zero_retention=True)
    backend = make_backend(provider_retention_days=30)
    Approval.objects.create(category=category, backend=backend)
    client.force_login(admin)
    page = client.get("/policy/approvals/").content.decode()
    assert "No longer met: Public needs zero data retention at the provider." in page


def _confidential_with_any_hosting():
    return make_category(number=3, slug="confidential", name="Confidential", retention_days=30)


def test_a_confidential_category_refuses_an_external_backend_whatever_its_settings(client, admin):
    """Level 3 never leaves our own infrastructure, even with no hosting class ticked:
    the approval is refused, as the message would be."""
    _confidential_with_any_hosting()
    external = make_backend(
        name="Acme gateway", kind="openai", base_url="https://gw.example/v1",
        hosting_class="external_api",
    )  # fmt: skip
    client.force_login(admin)
    response = client.post(
        "/policy/approvals/",
        {"category": "confidential", "backend": external.public_id, "preference": "10"},
        follow=True,
    )
    text = response.content.decode()
    assert "approved for Confidential" not in text
    assert (
        "Confidential is level 3: only an on-premise or private cloud backend may receive it; "
        "Acme gateway is an external API backend." in text
    )
    assert not Approval.objects.exists()
    assert policy_events() == []


def test_an_existing_approval_below_the_level_floor_is_flagged_on_every_page(client, admin):
    category = _confidential_with_any_hosting()
    external = make_backend(name="Acme gateway", hosting_class="external_api")
    Approval.objects.create(category=category, backend=external)
    client.force_login(admin)
    for page in (
        "/policy/approvals/",
        f"/policy/categories/{category.slug}/",
        f"/policy/backends/{external.public_id}/",
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert "only an on-premise or private cloud backend may receive it" in (
            response.content.decode()
        ), page


def test_a_backends_preference_changes_in_place(client, admin):
    """It could only be revoked and approved again: in between it served nobody."""
    backend = make_backend()
    approval = Approval.objects.create(category=_confidential(), backend=backend, preference=100)
    url = f"/policy/approvals/confidential/{backend.public_id}/preference/"
    client.force_login(admin)
    for typed in ("0", "first", "1001", ""):
        complaint = "Give a whole number from 1 (tried first) to 1000."
        refused = client.post(url, {"preference": typed}, **HTMX)
        page = refused.content.decode()
        assert refused.status_code == 422 and complaint in page
        assert f'value="{typed}" aria-invalid="true"' in page
    assert Approval.objects.get(pk=approval.pk).preference == 100 and policy_events() == []

    moved = client.post(url, {"preference": "5"}, **HTMX)
    assert moved.status_code == 200 and 'value="5"' in moved.content.decode()
    assert Approval.objects.get(pk=approval.pk).preference == 5
    event = only_event()
    assert event.before == {"category": 3, "backend_name": "Local Ollama", "preference": 100}
    assert event.after == {"preference": 5}
