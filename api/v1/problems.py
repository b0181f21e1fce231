"""The errors of the /v1 endpoints, in OpenAI's shape: ``{"error": {"message", "type",
"param", "code"}}``, so the clients raise their usual exceptions."""

from django.http import JsonResponse


class Problem(Exception):
    """A request answered with an OpenAI-style error."""

    def __init__(
        self, status: int, message: str, *, kind: str, code: str, headers=None, param=None
    ):
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}
        return {"error": error}

    def response(self) -> JsonResponse:
        return JsonResponse(self.body(), status=self.status, headers=self.headers)


def _shown(name: str) -> str:
    """A name the client sent, quoted for a message: a long one cut (it is echoed back)."""
    return repr(name if len(name) <= 80 else name[:80] + "…")


def _unknown_model(model: str) -> Problem:
    return Problem(
        404,
        # OpenAI's words first (clients and tutorials match on them), then what to do.
        f"The model {_shown(model)} does not exist or you do not have access to it. "
        "GET /v1/models lists the ones you may use; 'auto' lets the policy choose.",
        kind="invalid_request_error",
        code="model_not_found",
    )


def too_large(message: str) -> Problem:
    """A body over a limit: Django's (:func:`_body`), or the server's (``config.asgi``)."""
    return Problem(413, message, kind="invalid_request_error", code="request_too_large")


def bad(message: str, *, code: str, param: str | None = None) -> Problem:
    return Problem(400, message, kind="invalid_request_error", code=code, param=param)


def _server_error() -> Problem:
    """What an unexpected failure answers: OpenAI's shape, not a page of HTML (nothing was
    sent to a model; the request's writes were rolled back)."""
    return Problem(
        500,
        "Steward failed to handle this request; nothing was sent to a model. Try again; if it "
        "goes on, tell your administrator (the time helps them find it in the log).",
        kind="server_error",
        code="internal_error",
    )


def _not_allowed(method: str, *also: str) -> JsonResponse:
    """405: use ``method`` (``also``: further methods allowed, named in Allow only)."""
    problem = Problem(
        405, f"Use {method}.", kind="invalid_request_error", code="method_not_allowed"
    )
    response = problem.response()
    response["Allow"] = ", ".join((method, *also))
    return response
