from api.services import create_token


def test_it_sends_a_signed_out_browser_to_sign_in_and_back_to_the_docs(client):
    """Every other page does; the docs answered a bare, unstyled "401 Unauthorized"."""
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/docs/"


def test_the_docs_still_open_with_a_token_and_a_wrong_token_is_still_a_401(client, member):
    _, secret = create_token(user=member, name="docs", expires_in_days=30, actor=member)

    assert client.get("/api/docs/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    wrong = client.get("/api/docs/", HTTP_AUTHORIZATION="Bearer stw_not-a-token")
    assert wrong.status_code == 401


def test_a_program_without_a_token_still_gets_a_401_from_the_schema(client):
    assert client.get("/api/schema/").status_code == 401
