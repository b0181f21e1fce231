import pytest
from rest_framework.test import APIClient

from api.services import create_token
from privacy.services import place_hold
from tests.factories import make_category
from tests.privacy.conftest import make_conversation


@pytest.fixture
def api(admin) -> APIClient:
    """A policy admin's token, and 500s answered rather than raised."""
    _, secret = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def internal(member, privacy_officer):
    """Internal keeps 14 days. Idle 3 days: kept either way; 10 days: kept by 14, not by 7
    (one of them held); 20 days: past both, the next purge deletes it anyway."""
    category = make_category(
        number=2, slug="internal", name="Internal", summary="Business information.",
        retention_days=14,
    )  # fmt: skip
    make_conversation(member, category, days_idle=3)
    make_conversation(member, category, days_idle=10, texts=("One", "Two", "Three"))
    held = make_conversation(member, category, days_idle=10)
    place_hold(actor=privacy_officer, reason="Case 7", conversation=held)
    make_conversation(member, category, days_idle=20)
    return category
