"""/v1 as a developer meets it: what a refused request leaves in the audit trail, what a
blocked one tells the client, JSON that is not JSON; and the token page's confirmations."""

import json

import httpx

from api import services
from api.models import ApiToken

EMAIL = "jane.roe@example.org"
INTERNAL = {"X-Steward-Category": "internal"}
ASK = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}


def _post(live_server, secret, body, *, path="/v1/chat/completions", headers=None):
    return httpx.post(
        f"{live_server.url}{path}",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )


def test_revoking_with_htmx_shows_its_confirmation_in_the_panel(client, member):
    """The panel swapped in held no message: "revoked" appeared later, on whatever page
    the user opened next."""
    token, _ = services.create_token(user=member, name="notebook", expires_in_days=None,
                                     actor=member)  # fmt: skip
    client.force_login(member)
    response = client.post(f"/settings/tokens/{token.public_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "“notebook” revoked" in response.content.decode()
    assert "revoked: it no longer works" not in client.get("/settings/tokens/").content.decode()
    assert ApiToken.objects.get(pk=token.pk).status == "revoked"
