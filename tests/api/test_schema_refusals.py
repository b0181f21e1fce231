"""Every REST write's 400 is in the schema (/api/docs listed it as undocumented): the request
refused, by field, as DRF answers it."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.api import test_rest
from tests.api.test_rest import _client_of

policy = test_rest.policy  # the fixture: a category, a backend, a rule and a term list
WRITES = ("post", "put", "patch")
REFUSAL = {"$ref": "#/components/schemas/ValidationError"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_it_documents_a_rules_400_and_the_schema_still_validates(schema):
    validate_schema(schema)
    answers = schema["paths"]["/api/governance/rules/"]["post"]["responses"]
    assert sorted(answers) == ["201", "400"]
    assert answers["400"]["content"]["application/json"]["schema"] == REFUSAL
    refusal = schema["components"]["schemas"]["ValidationError"]
    assert refusal["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_it_documents_the_400_of_every_write_and_of_no_read_as_a_refused_body(schema):
    """A body-less step (a request's ``approve``) is refused beside no field: a 400 too. A
    list's 400 is a query parameter refused (test_schema_get_errors), never a body."""
    documented = {
        (method, path): operation["responses"].get("400")
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    writes = [key for key in documented if key[0] in WRITES]
    assert len(writes) >= 20, writes
    assert ("post", "/api/privacy/requests/{public_id}/approve/") in writes
    assert [key for key in writes if not documented[key]] == []
    bodies = [key for key, answer in documented.items() if answer and _refers_to(answer, REFUSAL)]
    assert sorted(bodies) == sorted(writes)


def _refers_to(answer: dict, ref: dict) -> bool:
    return answer["content"]["application/json"]["schema"] == ref


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"name": ""}, "application/json"),  # fields refused
        ([1, 2], "application/json"),  # not an object
        ("{not json", "application/json"),  # unreadable
    ],
)
def test_a_refused_write_answers_as_the_schema_says(schema, policy, admin, body, content_type):
    client = _client_of(admin)
    if isinstance(body, str):
        answer = client.generic("POST", "/api/governance/rules/", body, content_type)
    else:
        answer = client.post("/api/governance/rules/", body, format="json")
    assert answer.status_code == 400
    refusal = {**schema["components"]["schemas"]["ValidationError"]}
    refusal.pop("description")
    jsonschema.Draft202012Validator(refusal).validate(answer.json())
