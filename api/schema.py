"""The REST API's OpenAPI schema, beyond what drf-spectacular reads from the views: every
write's 400 answer (a postprocessing hook, named in SPECTACULAR_SETTINGS)."""

from rest_framework.settings import api_settings

#: The component each write's 400 answer refers to.
VALIDATION_ERROR = "ValidationError"
REF = f"#/components/schemas/{VALIDATION_ERROR}"
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


def document_validation_errors(result: dict, generator, request, public) -> dict:
    """Add the 400 answer to every write that does not name one itself.

    drf-spectacular documents only the answers a view declares, so Swagger UI listed the
    400 that any write gives for a refused body as undocumented.
    """
    writes = [
        operation
        for operations in result["paths"].values()
        for method, operation in operations.items()
        if method in WRITES
    ]
    for operation in writes:
        operation["responses"].setdefault(
            "400",
            {
                "description": "Refused: fix what it names and send the request again.",
                "content": {"application/json": {"schema": {"$ref": REF}}},
            },
        )
    if writes:
        schemas = result.setdefault("components", {}).setdefault("schemas", {})
        schemas[VALIDATION_ERROR] = validation_error_schema()
        result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
