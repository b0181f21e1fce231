"""The REST API's OpenAPI schema, beyond what drf-spectacular reads from the views: the 400
and 404 answers no view declares (a postprocessing hook, named in SPECTACULAR_SETTINGS).
Every write answers 400 for a body refused; every list for a query parameter refused. Every
operation on one object answers 404 when there is no such object (or none the caller may
see), and every list for a page or cursor that does not exist."""

from rest_framework.settings import api_settings

from api.pagination import Pages

#: The component each write's 400 answer refers to.
VALIDATION_ERROR = "ValidationError"
#: The component each list's 400 answer refers to.
PARAMETER_ERROR = "ParameterError"
#: The component each 404 answer refers to.
NOT_FOUND = "NotFound"
#: The operations that can answer 400 for what they were sent: those with a body, and the
#: body-less steps (a privacy request's ``approve``) a service refuses, beside no field.
WRITES = ("post", "put", "patch")

_MESSAGES = {"type": "array", "items": {"type": "string"}}


def validation_error_schema() -> dict:
    """DRF's 400 body, as every write answers it: each field refused, with its messages."""
    return {
        "type": "object",
        "description": "What was refused: each field named with its messages, as "
        '`{"name": ["This field is required."]}`.',
        "properties": {
            api_settings.NON_FIELD_ERRORS_KEY: {
                **_MESSAGES,
                "description": "What was refused of the request as a whole.",
            },
            "detail": {
                "type": "string",
                "description": "Why the body could not be read at all (not JSON, or holding "
                "text no database takes): then the only key.",
            },
        },
        "additionalProperties": _MESSAGES,
    }


def parameter_error_schema() -> dict:
    """A list's 400 body: each query parameter refused, with its messages. A read has no body,
    so never the ``detail`` of a body that could not be read."""
    return {
        "type": "object",
        "description": "What was refused: each query parameter named with its messages, as "
        '`{"page_size": ["A whole number from 1 to 500."]}`.',
        "properties": {
            api_settings.NON_FIELD_ERRORS_KEY: {
                **_MESSAGES,
                "description": "What was refused of the parameters together, as a start "
                "date after the end date.",
            },
        },
        "additionalProperties": _MESSAGES,
        "minProperties": 1,
    }


def not_found_schema() -> dict:
    """DRF's 404 body: what was not found, in words."""
    return {
        "type": "object",
        "description": 'Nothing there: `{"detail": "No Category matches the given query."}`, '
        'or `"Invalid page."` for a list\'s page or cursor past its end.',
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "additionalProperties": False,
    }


def _names_an_object(operation: dict) -> bool:
    """An operation on one object, named in its path (an id, a slug, a sequence)."""
    return any(parameter["in"] == "path" for parameter in operation.get("parameters", ()))


def _is_list(method: str, operation: dict) -> bool:
    """A list, by its ``page_size``: api.pagination refuses one that is no whole number from
    1 (and the audit trail's list refuses its filters as the auditor's page does)."""
    return method == "get" and any(
        parameter["in"] == "query" and parameter["name"] == Pages.page_size_query_param
        for parameter in operation.get("parameters", ())
    )


def reference(component: str) -> str:
    return f"#/components/schemas/{component}"


def _document(operations: list[dict], status: str, description: str, component: str) -> None:
    """Give each of ``operations`` the answer ``status`` with ``component``'s body, unless it
    names that answer itself."""
    ref = {"$ref": reference(component)}
    for operation in operations:
        operation["responses"].setdefault(
            status, {"description": description, "content": {"application/json": {"schema": ref}}}
        )


def document_validation_errors(result: dict, generator, request, public) -> dict:
    """Add the 400 answer to every write and every list that does not name one itself.

    drf-spectacular documents only the answers a view declares, so Swagger UI listed the
    400 that any write gives for a refused body as undocumented, and the lists as
    answering 200 alone.
    """
    operations = [
        (method, operation)
        for path_operations in result["paths"].values()
        for method, operation in path_operations.items()
    ]
    writes = [operation for method, operation in operations if method in WRITES]
    lists = [operation for method, operation in operations if _is_list(method, operation)]
    finding = [
        operation
        for method, operation in operations
        if _names_an_object(operation) or _is_list(method, operation)
    ]
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for status, answering, description, component, schema in (
        (
            "400",
            writes,
            "Refused: fix what it names and send the request again.",
            VALIDATION_ERROR,
            validation_error_schema,
        ),
        (
            "400",
            lists,
            "Refused: a query parameter holds a value this list does not take. Fix the one "
            "it names and send the request again.",
            PARAMETER_ERROR,
            parameter_error_schema,
        ),
        (
            "404",
            finding,
            "Not found: no such object, none you may see, or a page past the list's end.",
            NOT_FOUND,
            not_found_schema,
        ),
    ):
        _document(answering, status, description, component)
        if answering:
            schemas[component] = schema()
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
