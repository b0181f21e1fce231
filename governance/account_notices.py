"""What the owner of an address is told when proving it ended what whoever typed it had set up
(:func:`governance.services.accounts._address_proved`): the words shown on the page after a
confirmation link, a password reset's link (``governance.receivers``) or a single sign-on
that proves the address (``governance.adapters``)."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from governance.services.accounts import AddressProof


def address_proved_notice(proof: AddressProof, *, no_way_in: bool) -> SafeString | None:
    """What the owner of an address just proved is told of what that ended (``proof``), or
    None if it ended nothing. ``no_way_in``: it ended something, proved from another browser
    than the sign-up's, so neither a password nor an identity is left to sign in with: the
    page they are told on is the one to choose a password (``AccountAdapter``)."""
    said = []
    if no_way_in:
        typed = (
            " (the one typed when the account was made was removed, in case it was not yours)"
            if proof.password_removed
            else ""
        )
        again = (
            format_html(
                ', then link single sign-on again on the <a href="{}">Single sign-on</a> page',
                reverse("socialaccount_connections"),
            )
            if proof.identities_unlinked
            else ""
        )
        said.append(
            format_html(
                "Your address is confirmed. Now choose the password you will sign in with{}{}.",
                typed,
                again,
            )
        )
    elif proof.identities_unlinked:
        said.append(identities_unlinked_notice(proof.identities_unlinked))
    if proof.api_tokens_revoked:
        said.append(tokens_revoked_notice(proof.api_tokens_revoked))
    return format_html_join(" ", "{}", ((part,) for part in said)) if said else None


def identities_unlinked_notice(count: int) -> SafeString:
    """What the owner of an address just confirmed is told of the ``count`` single sign-on
    identities that it unlinked."""
    identities = "A single sign-on identity" if count == 1 else "Single sign-on identities"
    were = "was" if count == 1 else "were"
    return format_html(
        "{} linked before you confirmed your address {} removed: link yours again on the "
        '<a href="{}">Single sign-on</a> page.',
        identities,
        were,
        reverse("socialaccount_connections"),
    )


def tokens_revoked_notice(count: int) -> str:
    """What the owner of an address just proved is told of the ``count`` API tokens that
    proving it revoked."""
    if count == 1:
        return (
            "The API token made before your address was confirmed was revoked: make a new "
            "one if you need it."
        )
    return (
        f"The {count} API tokens made before your address was confirmed were revoked: make "
        "new ones if you need them."
    )
