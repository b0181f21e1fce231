"""Every REST list's 400 is in the schema as the list answers it (/api/docs listed the reads
as answering 200 alone): a query parameter refused, named with its messages. Each list takes
``page_size`` (a whole number from 1: api.pagination), and the audit trail its filters too,
refused as the auditor's page refuses them."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from governance.roles import Role
from tests.api.test_rest import _client_of
from tests.factories import make_user

EVENTS = "/api/audit/events/"
LISTS = [
    EVENTS,
    *(f"/api/governance/{name}/" for name in
      ("approvals", "backends", "categories", "clearances", "rules", "term-lists")),
    *(f"/api/privacy/{name}/" for name in ("holds", "purges", "requests")),
]  # fmt: skip
#: What no query parameter of any Steward list takes.
JUNK = "not-a-value"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def client(db, settings):
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 10_000  # the sweep asks more than a person may
    return _client_of(make_user("everyone@example.com", *Role))


def _documented_400(schema: dict, path: str) -> jsonschema.Draft202012Validator:
    """A validator of the body the docs give for ``GET path``'s 400."""
    answer = schema["paths"][path]["get"]["responses"]["400"]
    body = answer["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**body, "components": schema["components"]})


def _reads(schema: dict) -> dict[str, dict]:
    return {path: ops["get"] for path, ops in schema["paths"].items() if "get" in ops}


def test_it_documents_the_400_of_every_list_and_of_no_other_read(schema):
    validate_schema(schema)
    documented = sorted(path for path, read in _reads(schema).items() if "400" in read["responses"])
    assert documented == sorted(LISTS)
    for path in LISTS:
        answer = schema["paths"][path]["get"]["responses"]["400"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ParameterError"
        }


def test_a_read_answers_400_exactly_where_the_schema_says(schema, client):
    """Every read without an object in its path, each query parameter it names sent a value
    it does not take (``page_size`` too): 400 where the docs give a 400, and nowhere else."""
    refusing = set()
    for path, read in _reads(schema).items():
        if "{" in path:
            continue
        names = [p["name"] for p in read.get("parameters", ()) if p["in"] == "query"]
        for name in {*names, "page_size"}:
            answer = client.get(path, {name: JUNK})
            assert answer.status_code in (200, 400, 404), (path, name, answer.content)
            if answer.status_code == 400:
                refusing.add(path)
                assert "400" in read["responses"], (path, name)
                _documented_400(schema, path).validate(answer.json())
    assert sorted(refusing) == sorted(LISTS)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("size", ["ten", "0", "-1", "1.5"])
def test_a_refused_page_size_answers_as_the_schema_says(schema, client, path, size):
    answer = client.get(path, {"page_size": size})
    assert answer.status_code == 400
    assert answer.json() == {"page_size": ["A whole number from 1 to 500."]}
    _documented_400(schema, path).validate(answer.json())


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ({"since": "yesterday"}, ["since"]),
        ({"until": "2026-02-30"}, ["until"]),
        ({"action": "chat.nonsense"}, ["action"]),
        ({"outcome": "maybe"}, ["outcome"]),
        ({"hosting": "moon"}, ["hosting"]),
        ({"hosting": "on_prem", "action": "auth.login"}, ["hosting"]),
        ({"backend": "No such backend"}, ["backend"]),
        ({"actor": "nobody@example.com"}, ["actor"]),
        ({"target": "42"}, ["target_type"]),
        ({"category": "x" * 81}, ["category"]),
        ({"since": "2026-03-02", "until": "2026-03-01"}, ["non_field_errors"]),  # together
        ({"since": "2026-03-02", "until": "2026-03-01", "actor": "x@example.com"},
         ["actor", "non_field_errors"]),
    ],
)  # fmt: skip
def test_a_refused_audit_filter_answers_as_the_schema_says(schema, client, query, refused):
    answer = client.get(EVENTS, query)
    assert answer.status_code == 400
    body = answer.json()
    assert sorted(body) == refused
    _documented_400(schema, EVENTS).validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},  # a 400 names what it refused
        {"detail": "Invalid page."},  # a page past the last, or none: the 404's body
        {"page_size": "A whole number from 1 to 500."},  # messages come in a list
    ],
)
def test_the_documented_400_is_no_body_but_a_refusal(schema, body):
    with pytest.raises(jsonschema.ValidationError):
        _documented_400(schema, LISTS[1]).validate(body)
