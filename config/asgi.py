"""The ASGI application: Django's full stack, and a lean one for the OpenAI-compatible API.

``/v1/`` is called by programs with a personal token, many times a second:
no session, cookie, CSRF token, message or page is involved, so its requests
skip those middlewares (and the thread Django starts per request to run
them) and keep what every request needs: the allowed-hosts check, the request id
and the security headers. Everything else goes through ``settings.MIDDLEWARE``.
"""

import os

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from django.middleware.common import CommonMiddleware  # noqa: E402  (after setup)
from django.middleware.security import SecurityMiddleware  # noqa: E402

from config.middleware import InEventLoop, RequestIdMiddleware  # noqa: E402

API_PREFIX = "/v1/"


class ApiHandler(ASGIHandler):
    """Django's ASGI handler with only Common, Security and the request id around views."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response_async)
        for hooks in (CommonMiddleware, SecurityMiddleware):  # the allowed hosts are Common's
            handler = convert_exception_to_response(InEventLoop(hooks, handler))
        self._middleware_chain = convert_exception_to_response(RequestIdMiddleware(handler))

    async def __call__(self, scope, receive, send):
        # Django's own wraps each request in a ThreadSensitiveContext, a thread started and
        # stopped per request for its "thread sensitive" sync code: here only the
        # request_started/finished signals and closing the response, quick calls that
        # may as well share asgiref's one thread for them.
        await self.handle(scope, receive, send)


api_application = ApiHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
        return await api_application(scope, receive, send)
    return await django_application(scope, receive, send)
