"""Every REST operation on one object, and every list, has its 404 in the schema as it answers
it (/api/docs listed none): ``{"detail": "..."}`` for an object that does not exist (or that
the caller may not see), and for a list's page or cursor past its end."""

import uuid

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from api.schema import NOT_FOUND, reference
from governance.roles import Role
from tests.api.test_rest import _client_of
from tests.api.test_schema_get_errors import EVENTS, LISTS
from tests.factories import make_user

#: A value no object's path parameter has, by the parameter's name.
MISSING = {
    "public_id": str(uuid.uuid4()),
    "slug": "no-such-category",
    "sequence": "987654321",
    "key": "no-such-key",
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def client(db, settings):
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 10_000
    return _client_of(make_user("everyone@example.com", *Role))


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _documented_404(schema: dict, method: str, path: str) -> jsonschema.Draft202012Validator:
    answer = schema["paths"][path][method]["responses"]["404"]
    body = answer["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**body, "components": schema["components"]})


def _on_one_object(schema: dict) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in _operations(schema) if "{" in path]


def test_it_documents_the_404_of_every_object_and_list_and_of_nothing_else(schema):
    validate_schema(schema)
    documented = {(m, p) for m, p, op in _operations(schema) if "404" in op["responses"]}
    assert documented == {*_on_one_object(schema), *(("get", path) for path in LISTS)}
    for method, path in documented:
        answer = schema["paths"][path][method]["responses"]["404"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": reference(NOT_FOUND)}


def test_every_operation_on_an_object_that_is_not_there_answers_as_documented(schema, client):
    """Each method of each object's address, the object's name made up and an empty body:
    404, with the body the docs give; a write that reads its body first refuses the empty one
    (400, as documented) before it looks for the object."""
    found_nothing = 0
    for method, path in _on_one_object(schema):
        address = path
        for name, value in MISSING.items():
            address = address.replace("{" + name + "}", value)
        assert "{" not in address, address
        answer = getattr(client, method)(address, {}, format="json")
        if method not in ("get", "delete") and answer.status_code == 400:
            refusal = schema["paths"][path][method]["responses"]["400"]
            body = refusal["content"]["application/json"]["schema"]
            validator = {**body, "components": schema["components"]}
            jsonschema.Draft202012Validator(validator).validate(answer.json())
            continue
        assert answer.status_code == 404, (method, address, answer.content)
        _documented_404(schema, method, path).validate(answer.json())
        found_nothing += 1
    assert found_nothing >= 30


@pytest.mark.parametrize("path", LISTS)
def test_a_page_past_the_end_answers_as_documented(schema, client, path):
    query = {"cursor": "not-a-cursor"} if path == EVENTS else {"page": "999"}
    answer = client.get(path, query)
    assert answer.status_code == 404
    _documented_404(schema, "get", path).validate(answer.json())


@pytest.mark.parametrize("body", [{}, {"detail": 404}, {"detail": "x", "more": "y"}])
def test_the_documented_404_is_a_detail_alone(schema, body):
    with pytest.raises(jsonschema.ValidationError):
        _documented_404(schema, "get", LISTS[0]).validate(body)
