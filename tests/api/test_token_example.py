"""A new token's example reads the token from the environment (STEWARD_TOKEN), as the README's
does, beside the line that sets it: code copied from the page keeps no token in it."""

import html
import re

from governance.demo import DEMO_PASSWORD


def _made(signed_in_now, user) -> str:
    client = signed_in_now(user, DEMO_PASSWORD)
    response = client.post("/settings/tokens/", {"name": "notebook", "expires_in_days": "30"})
    assert response.status_code == 200 and "Your new token" in response.content.decode()
    return response.content.decode()


def _code(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(?:<code>)?(.*?)</code>', page, re.S)
    assert found, element_id
    return html.unescape(found.group(1))


def test_the_example_keeps_the_token_out_of_the_code_and_works_as_shown(
    org, live_server, signed_in_now, monkeypatch, capsys
):
    page = _made(signed_in_now, org.alice)
    secret = _code(page, "token-secret")
    # Read from the terminal, not typed on the command line: no token in the shell's history.
    assert _code(page, "token-export") == "read -rs STEWARD_TOKEN && export STEWARD_TOKEN"
    example = _code(page, "token-example")
    assert secret not in example and 'api_key=os.environ["STEWARD_TOKEN"],' in example

    monkeypatch.setenv("STEWARD_TOKEN", secret)  # as the read-and-export line does
    base_url = re.search(r'base_url="(.*?)/v1"', example).group(1)
    exec(example.replace(base_url, live_server.url), {"__name__": "example"})
    assert capsys.readouterr().out == "Hello from the local model.\n"  # category 1: local
