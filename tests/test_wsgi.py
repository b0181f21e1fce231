"""The WSGI application refuses a body declared too large before Django reads it."""

import io
import json

import pytest

from config.bodies import MAX_BODY_BYTES
from config.wsgi import application


class Unreadable(io.RawIOBase):
    """A request body that must not be read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def _call(method: str, path: str, length: int, body=None) -> tuple[str, dict, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": body or Unreadable(),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(length),
        "CONTENT_TYPE": "multipart/form-data; boundary=x",
    }
    started = {}

    def start_response(status, headers):
        started.update(status=status, headers=dict(headers))

    content = b"".join(application(environ, start_response))
    return started["status"], started["headers"], content


@pytest.mark.parametrize("path", ["/accounts/login/", "/v1/chat/completions"])
def test_it_refuses_a_body_declared_too_large_without_reading_it(path):
    status, headers, content = _call("POST", path, MAX_BODY_BYTES + 1)
    assert status == "413 Request Entity Too Large"
    assert headers["Connection"] == "close"
    assert headers["X-Content-Type-Options"] == "nosniff"
    if path.startswith("/v1/"):
        assert json.loads(content)["error"]["code"] == "request_too_large"
    else:
        assert content.startswith(b"The request body is larger than")


@pytest.mark.django_db
def test_a_body_within_the_limit_reaches_django():
    status, _, _ = _call("POST", "/v1/chat/completions", 2, io.BytesIO(b"{}"))
    assert status.startswith("401")  # Django's view answered: no token
