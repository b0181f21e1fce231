"""The largest request body Steward takes, and the 413 that refuses a larger one.

Both servers refuse it before Django reads the body (``config.asgi``, ``config.wsgi``):
Django reads a body whole, and the CSRF check parses any POST, a multipart one's files
into temporary files of any size, before a view or the login check sees the request.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from governance.forms import MAX_TERM_FILE_BYTES

API_PREFIX = "/v1/"
REST_PREFIX = "/api/"
#: The largest request body taken: the largest one Steward asks for is a term list's CSV
#: upload with its form; the other forms and the API stay under Django's
#: DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), which their views check once the body is in.
MAX_BODY_BYTES = max(MAX_TERM_FILE_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE) + 1024 * 1024
#: What any other body may hold (Django's DATA_UPLOAD_MAX_MEMORY_SIZE): past it, a view
#: meets RequestDataTooBig once it reads the body, and says this.
FORM_BODY_LIMIT = f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20:g} MB"
FORM_BODY_TOO_LARGE = f"The request body is larger than {FORM_BODY_LIMIT}."


def too_large_response(path: str) -> HttpResponse:
    """413, in the shape each kind of client reads: OpenAI's for /v1/, the REST API's
    (``detail``) for /api/, words for a page."""
    from api.v1 import too_large  # which reads this module's limits

    message = (
        f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB: nothing of it "
        "was kept. Send less."
    )
    if path.startswith(API_PREFIX):
        response = too_large(message).response()
    elif path.startswith(REST_PREFIX):
        response = JsonResponse({"detail": message}, status=413)
    else:
        response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    response["Content-Length"] = str(len(response.content))
    response["X-Content-Type-Options"] = "nosniff"
    response["Connection"] = "close"  # the rest of the body is not read
    return response
