from django.http import HttpRequest

from chat.services.steps import TOO_LONG
from governance.simulation import MAX_MESSAGE_CHARS


def limits(request: HttpRequest) -> dict:
    """The longest message Steward takes, and its refusal of a longer one with the numbers
    left to fill in: the message box says so before sending."""
    return {"max_message_chars": MAX_MESSAGE_CHARS, "too_long_refusal": TOO_LONG}
