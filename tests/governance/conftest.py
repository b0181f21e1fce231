import pytest
from rest_framework.test import APIClient

from api.services import create_token


@pytest.fixture
def api(admin) -> APIClient:
    """A policy admin's token, and 500s answered rather than raised."""
    _, secret = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client
