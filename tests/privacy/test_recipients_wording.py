"""The request page's Recipients table counts calls that carried a RECOGNISED identifier in
clear: a call that carried the person's name without a title counted as 0 "In clear", which
read as "nothing went in clear"."""

import html
import re

from django.urls import reverse

from privacy import services
from tests.privacy.conftest import receive


def _recipients_card(client, request) -> str:
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    card = page[page.index("<h2>Recipients</h2>") :]
    return html.unescape(card[: card.index("</section>")])


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_the_in_clear_column_says_it_counts_recognised_identifiers_only(client, officers):
    request = receive(officers)
    request = services.verify_identity(request=request, actor=officers[0], method="Called back")
    request = services.scope_request(request=request, actor=officers[0])
    row = {"hosting_class": "external_api", "region": "us", "calls": 2}
    request.scope["recipients"] = [
        {**row, "backend": "OpenAI business API", "in_clear": 0},
        {**row, "backend": "Claude API", "in_clear": 1},
    ]
    request.save(update_fields=["scope"])
    client.force_login(officers[1])
    card = _recipients_card(client, request)
    assert "<th>In clear (identifiers recognised)</th>" in card
    rows = [_text(tr) for tr in re.findall(r"<tr>(.*?)</tr>", card)]
    assert rows[1:] == [
        "OpenAI business API external API us 2 0 recognised",
        "Claude API external API us 2 1 recognised",
    ]
    footnote = _text(card[card.index("</table>") :])
    assert footnote == (
        "Names written without a title are not recognised: a call may have carried one in clear."
    )
