from django.http import HttpRequest

from governance.simulation import MAX_MESSAGE_CHARS


def limits(request: HttpRequest) -> dict:
    """The longest message Steward takes, for the message box to say so before sending."""
    return {"max_message_chars": MAX_MESSAGE_CHARS}
