"""The desk flags a scoped request no privacy officer may approve: with two officers, one
scoping a request about the other, neither may, and only the request's own page said so
while its deadline ran."""

import datetime as dt
import html

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.roles import Role
from privacy import services
from tests.factories import make_user
from tests.privacy.conftest import receive

FLAG = "No officer may approve it: a third privacy officer is needed"


def _scoped(officers, *, about=None, identifiers=None, days_ago: int = 0):
    """A request scoped by the first officer (about ``about``, an account, if given),
    received ``days_ago``."""
    first = officers[0]
    request = receive(
        officers,
        identifiers=identifiers or [("email", about.email if about else "jane.roe@example.org")],
        subject_user=about,
        received_on=timezone.localdate() - dt.timedelta(days=days_ago),
    )
    request = services.verify_identity(request=request, actor=first, method="Called back")
    return services.scope_request(request=request, actor=first)


def _line(client, request) -> str:
    page = html.unescape(client.get(reverse("privacy:desk")).content.decode())
    return page.split(f">{request.reference}<")[1].split("</tr>")[0]


def test_it_flags_a_request_about_the_other_officer_and_links_to_it(client, officers):
    request = _scoped(officers, about=officers[1])
    client.force_login(officers[1])  # the officer it is about sees it too: the desk is shared
    line = _line(client, request)
    url = reverse("privacy:request", args=[request.public_id])
    assert f'<a class="cell-note approve-waiting" href="{url}">{FLAG}</a>' in line
    make_user("olga@corp.example", Role.PRIVACY_OFFICER, full_name="Olga")
    assert FLAG not in _line(client, request)


def test_it_flags_a_request_naming_an_officers_email_without_their_account(client, officers):
    request = _scoped(officers, identifiers=[("email", officers[1].email)])
    client.force_login(officers[0])
    assert FLAG in _line(client, request)


def test_it_does_not_flag_a_request_another_officer_may_approve(client, officers):
    request = _scoped(officers)
    client.force_login(officers[0])
    line = _line(client, request)
    assert FLAG not in line and "approve" not in line  # scoped by the viewer: for Omar
    client.force_login(officers[1])
    assert FLAG not in _line(client, request)


def test_the_flags_ask_no_query_per_line(client, officers):
    client.force_login(officers[0])
    _scoped(officers, about=officers[1])
    client.get(reverse("privacy:desk"))  # what a process reads once
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("privacy:desk"))
    for number in range(5):
        _scoped(officers, identifiers=[("email", officers[1].email)], days_ago=number + 1)
    with CaptureQueriesContext(connection) as six:
        page = client.get(reverse("privacy:desk")).content.decode()
    assert page.count(FLAG) == 6
    assert len(six) == len(one)
