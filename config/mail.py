"""The console mail backend of embedded mode, printing to stderr.

Django's prints each message to stdout, where a command's answer goes: ``T=$(manage.py
create_api_token …)`` captured the owner's notice ahead of the token. On stderr the mail
still shows in the terminal and in ``make run``'s output, and stdout holds the answer alone.
"""

import sys

from django.core.mail.backends import console


class ConsoleEmailBackend(console.EmailBackend):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)
