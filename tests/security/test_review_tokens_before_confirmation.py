"""An account open sign-up made before its address had to be confirmed (sign-up signed in at
once until today) may hold API tokens, and the roles an administrator gave it then. It no
longer signs in until the address is confirmed from its mailbox, but its tokens still
worked: whoever typed a colleague's address kept acting as them through the API.
Now each use of such a token is refused, and recorded, until the address is confirmed (the
token's look-up reads whether it is, in the same statement)."""

import pytest
from allauth.account.models import EmailAddress

from api.services import create_token
from governance.roles import Role
from tests.factories import make_user


@pytest.mark.django_db(transaction=True)  # /v1 reads in a thread of its own
def test_a_token_of_an_account_whose_address_nobody_confirmed_is_refused(client):
    made = make_user("victim@corp.example", Role.STAFF)  # Staff, given before the upgrade
    EmailAddress.objects.create(user=made, email=made.email, primary=True)  # unverified
    _, raw = create_token(user=made, name="taken early", expires_in_days=None, actor=made)

    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 401
    assert "confirm" in response.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_the_same_token_works_once_the_address_is_confirmed(client):
    made = make_user("victim@corp.example", Role.STAFF)
    address = EmailAddress.objects.create(user=made, email=made.email, primary=True)
    _, raw = create_token(user=made, name="taken early", expires_in_days=None, actor=made)
    address.verified = True
    address.save()

    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
