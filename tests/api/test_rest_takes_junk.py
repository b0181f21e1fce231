"""Every REST endpoint that takes a body, as the role it is for: each field of what it shows
(and the usual names of what it takes) given junk of every JSON type, one at a time; whatever
the answer, never a 500. (A body past 2.5 MB was one: tests/api/test_rest_review.py.)"""

import pytest
from rest_framework.test import APIClient

from tests.test_access import MATRIX, personas  # noqa: F401  (the fixture)

JUNK = [None, True, -1, 10**30, 1.5, "", "\x00", "x" * 5000, [], [1, "a"], {}, {"a": [{}]}]
#: Fields some endpoints take but do not show.
TAKEN = ("person", "user", "group", "backend", "category", "reason", "days", "scope", "credential")


def _fields(client, path) -> set[str]:
    shown = client.get(path)
    if shown.status_code != 200:
        return set()
    body = shown.json()
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        body = body["results"][0] if body["results"] else {}
    return set(body) if isinstance(body, dict) else set()


@pytest.mark.parametrize("persona", ["admin", "privacy"])
def test_no_endpoint_answers_junk_with_a_500(personas, persona):  # noqa: F811
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(personas[persona])
    failures, sent = [], 0
    for path, expected in MATRIX.values():
        if not path.startswith("/api/") or path.startswith(("/api/schema", "/api/docs")):
            continue
        if expected[persona] != 200:
            continue
        for name in _fields(client, path) | set(TAKEN):
            for method in ("post", "patch"):
                for junk in JUNK:
                    response = getattr(client, method)(path, {name: junk}, format="json")
                    sent += 1
                    if response.status_code >= 500:
                        failures.append(f"{method} {path} {name}={junk!r:.20}: 500")
    assert sent > 100
    assert failures == []
