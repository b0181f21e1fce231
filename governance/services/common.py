"""What the governance services share."""


class PolicyError(Exception):
    """A change that the rules refuse; the message is shown to the person who asked."""
