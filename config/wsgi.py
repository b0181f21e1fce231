"""The WSGI application, for a server that speaks only WSGI (gunicorn, uWSGI, runserver).

``make run`` and ``manage.py serve`` use ASGI (``config.asgi``), where answers stream.
Here as there, a body declared larger than ``config.bodies.MAX_BODY_BYTES`` is refused
with 413 before Django reads it. One that declares no length is not read at all:
Django reads a WSGI body up to its Content-Length.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from config.bodies import MAX_BODY_BYTES, too_large_response  # noqa: E402  (after setup)


def application(environ, start_response):
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        response = too_large_response(environ.get("PATH_INFO", ""))
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, [*response.items()])
        return [response.content]
    return django_application(environ, start_response)
