"""Audited GET pages run only when asked for from Steward's own pages (config/asked_here.py).

Steward's links to them carry ``asked=<token>``, a keyed hash of the session's key. Any
other way of opening them (a link on another site, in a desktop mail app, in a model's
answer on Steward's own page, the login page's ``next`` after signing in, a bookmark) gets
a page that asks first, and the trail records nothing the person did not ask for, whatever
``Sec-Fetch-Site`` says.
"""

import datetime as dt
import html
import json
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from audit.models import AuditEvent
from config.asked_here import same_address, token_for_session
from config.sessions import SessionStore
from governance.models import Backend
from governance.roles import Role
from privacy.models import SubjectRequest
from tests.chat.conftest import external_llm, local_llm, org  # noqa: F401  (fixtures)
from tests.factories import make_backend, make_category, make_user
from tests.privacy.conftest import make_conversation, officers  # noqa: F401  (a fixture)
from tests.privacy.test_archive_withhold import copy  # noqa: F401  (a fixture)
from tests.privacy.test_breach_scope import _call

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action
CONFIRM_HEADING = "This address was not opened from a Steward page"


def _window() -> dict:
    end = timezone.localtime()
    return {
        "backend": str(Backend.objects.get(name="Cloud").public_id),
        "start": (end - dt.timedelta(days=1)).isoformat(),
        "end": end.isoformat(),
    }


def _breach(request, *, csv: bool = False):
    make_backend(name="Cloud")
    officer = make_user("pia@corp.example", Role.PRIVACY_OFFICER)
    # One call to the backend: the page then offers its CSV.
    ann = make_user("ann@corp.example", Role.STAFF)
    _call(make_conversation(ann, make_category(number=3, slug="internal")))
    name = "privacy:breach_csv" if csv else "privacy:breach"
    return officer, reverse(name), _window()


def _answer(request, name: str):
    """The completed access request of tests.privacy.test_archive_withhold, its receipt
    written; read by an officer it is not about."""
    subject_request = request.getfixturevalue("copy")
    SubjectRequest.objects.filter(pk=subject_request.pk).update(receipt_hash="0" * 64)
    officer = request.getfixturevalue("officers")[1]
    return officer, reverse(name, args=[subject_request.public_id]), {}


def _chat_export(request):
    author = make_user("ann@corp.example", Role.STAFF)
    conversation = make_conversation(author, make_category(number=2, slug="internal"))
    return author, reverse("chat:export", args=[conversation.public_id, "md"]), {}


def _auditor(name: str, query: dict | None = None, args=()):
    def build(request):
        auditor = make_user("rita@corp.example", Role.AUDITOR)
        return auditor, reverse(name, args=args), query or {}

    return build


#: Every audited GET: how to reach it (who, where, with what query), the action it records,
#: and whether it answers with a file.
AUDITED = {
    "breach scope": (_breach, Action.BREACH_SCOPED, False),
    "breach scope CSV": (lambda request: _breach(request, csv=True), Action.BREACH_SCOPED, True),
    "request receipt": (
        lambda request: _answer(request, "privacy:request_receipt"),
        Action.DSR_DOWNLOADED,
        True,
    ),
    "request archive": (
        lambda request: _answer(request, "privacy:request_archive"),
        Action.DSR_DOWNLOADED,
        True,
    ),
    "archive mentions": (
        lambda request: _answer(request, "privacy:request_check_copy"),
        Action.DSR_DOWNLOADED,
        False,
    ),
    "audit export": (
        _auditor("audit:export", {"action": Action.LOGIN}, args=["csv"]),
        Action.AUDIT_EXPORTED,
        True,
    ),
    "checkpoints file": (_auditor("audit:checkpoints_file"), Action.AUDIT_EXPORTED, True),
    "compliance report file": (
        _auditor("audit:report", {"format": "csv"}),
        Action.REPORT_EXPORTED,
        True,
    ),
    "conversation export": (_chat_export, Action.CHAT_EXPORTED, True),
    "training report CSV": (
        _auditor("training:report_csv"),
        Action.TRAINING_REPORT_EXPORTED,
        True,
    ),
}


@pytest.fixture(params=list(AUDITED))
def audited(request, client):
    """A client signed in as someone the view is for, its address and query, the action it
    records, whether it answers with a file, and who that someone is."""
    build, action, is_file = AUDITED[request.param]
    user, path, query = build(request)
    client.force_login(user)  # the sign-in is an event too: before the count
    return client, path, query, action, is_file, user


def _newest() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def _new_events(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=since)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _confirm_link(response) -> str:
    """The href of the confirmation page's button."""
    found = re.search(r'<a class="button button-primary" href="([^"]*)"', response.content.decode())
    assert found, response.content.decode()
    return html.unescape(found.group(1))


def _token(client) -> str:
    """The token Steward's pages give this client's session."""
    return token_for_session(client.session.session_key)


def _confirm_link(response) -> str:
    """The href of the confirmation page's button."""
    found = re.search(r'<a class="button button-primary" href="([^"]*)"', response.content.decode())
    assert found, response.content.decode()
    return html.unescape(found.group(1))


def _asks(response) -> bool:
    return (
        response.status_code == 200
        and "Content-Disposition" not in response
        and response["Content-Type"].startswith("text/html")
        and CONFIRM_HEADING in response.content.decode()
    )


def _another_session_of(user) -> str:
    """The token of another session of the same person (another browser)."""
    other = Client()
    other.force_login(user)
    return _token(other)


WRONG_TOKENS = {
    "none": lambda client, user: None,
    "empty": lambda client, user: "",
    "wrong": lambda client, user: "0" * 32,
    "another session's": lambda client, user: _another_session_of(user),
    "its own, cut short": lambda client, user: _token(client)[:16],
}


@pytest.mark.parametrize("given", list(WRONG_TOKENS))
@pytest.mark.parametrize("site", ["cross-site", "same-origin", "none", None])
def test_without_its_token_it_asks_first_wherever_it_came_from(audited, given, site):
    """``same-origin``: a link in a model's answer on Steward's own page; ``none``: a link
    opened from a desktop mail or chat app, or the address bar."""
    client, path, query, _, _, user = audited
    token = WRONG_TOKENS[given](client, user)
    if token is not None:
        query = {**query, "asked": token}
    before = _newest()
    headers = {"HTTP_SEC_FETCH_SITE": site} if site else {}

    response = client.get(path, query, **headers)

    assert _asks(response)
    assert _new_events(before) == []


def test_a_token_from_before_a_sign_in_is_dead(audited):
    client, path, query, _, _, user = audited
    earlier = _token(client)
    client.logout()
    client.force_login(user)  # signed in again: a new session key
    before = _newest()

    response = client.get(path, {**query, "asked": earlier})

    assert _token(client) != earlier
    assert _asks(response)
    assert _new_events(before) == []


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_with_its_token_it_runs_and_records_once(audited, site):
    client, path, query, action, is_file, _ = audited
    before = _newest()
    headers = {"HTTP_SEC_FETCH_SITE": site} if site else {}

    response = client.get(path, {**query, "asked": _token(client)}, **headers)

    assert response.status_code == 200
    assert CONFIRM_HEADING not in (b"" if is_file else response.content).decode()
    assert ("attachment" in response.get("Content-Disposition", "")) == is_file
    assert _new_events(before) == [action]


def test_what_it_records_holds_no_token(audited):
    client, path, query, action, _, _ = audited
    token = _token(client)
    before = _newest()

    client.get(path, {**query, "asked": token})

    event = AuditEvent.objects.get(sequence__gt=before)
    assert event.action == action
    recorded = json.dumps([event.details, event.before, event.after, event.message])
    assert token not in recorded and '"asked"' not in recorded


def test_a_browser_prerender_never_runs_it(audited):
    """Chrome prerenders an address-bar suggestion before Enter is pressed: the address
    may be one from this session's history, its token with it."""
    client, path, query, _, _, user = audited
    before = _newest()

    response = client.get(
        path,
        {**query, "asked": _token(client)},
        HTTP_SEC_FETCH_SITE="none",
        HTTP_SEC_PURPOSE="prefetch;prerender",
    )

    assert _asks(response)
    assert _new_events(before) == []


def test_the_confirmation_links_to_the_same_address_with_a_valid_token(audited):
    client, path, query, action, _, _ = audited
    response = client.get(path, {**query, "asked": "0" * 32}, HTTP_SEC_FETCH_SITE="cross-site")

    link = urlsplit(_confirm_link(response))

    assert not link.scheme and not link.netloc
    assert link.path == path
    expected = {name: [str(value)] for name, value in query.items()}
    assert parse_qs(link.query) == {**expected, "asked": [_token(client)]}
    shown = re.search(r'<code class="break">([^<]*)</code>', response.content.decode())
    assert shown and "asked" not in shown.group(1)  # the address as asked for, without a token
    # Followed from the page: it runs, once.
    before = _newest()
    again = client.get(_confirm_link(response))
    assert again.status_code == 200 and _new_events(before) == [action]


# --- Steward's own links carry the token ----------------------------------------------------


def _page_linking(name: str, client, path: str, query: dict) -> str:
    """The Steward page whose link (or form) leads to the audited view ``name``."""
    match = resolve(path)
    if name == "breach scope":
        return reverse("privacy:breach")
    if name == "breach scope CSV":
        return f"{reverse('privacy:breach')}?{urlencode({**query, 'asked': _token(client)})}"
    if name in ("request receipt", "request archive", "archive mentions"):
        return reverse("privacy:request", args=[match.kwargs["public_id"]])
    if name == "conversation export":
        return reverse("chat:conversation", args=[match.kwargs["public_id"]])
    pages = {
        "audit export": f"{reverse('audit:events')}?{urlencode(query)}",
        "checkpoints file": reverse("audit:checkpoints"),
        "compliance report file": reverse("audit:report"),
        "training report CSV": reverse("training:report"),
    }
    return pages[name]


def _links_to(page: str, path: str, *, on: str = "") -> list[str]:
    """The links of ``page`` (its address ``on``) to ``path``, each as an address."""
    hrefs = (urljoin(on, html.unescape(href)) for href in re.findall(r'href="([^"]*)"', page))
    return [href for href in hrefs if urlsplit(href).path == path]


def test_steward_s_own_links_carry_the_token_and_run(request, audited):
    client, path, query, action, _, _ = audited
    name = request.node.callspec.params["audited"]
    token = _token(client)

    source = _page_linking(name, client, path, query)
    page = client.get(source).content.decode()

    if name == "breach scope":  # the form: its fields, and the token hidden
        assert f'action="{path}"' in page
        assert f'<input type="hidden" name="asked" value="{token}">' in page
        links = [f"{path}?{urlencode({**query, 'asked': token})}"]
    else:
        links = _links_to(page, path, on=source)
    if name == "compliance report file":  # its other periods' pages record nothing
        links = [link for link in links if "format" in _single(link)]
    assert links, page
    for link in links:
        assert parse_qs(urlsplit(link).query)["asked"] == [token], link
    (link,) = [link for link in links if query.items() <= _single(link).items()][:1]
    before = _newest()
    response = client.get(link)
    assert response.status_code == 200 and _new_events(before) == [action]


def _single(link: str) -> dict:
    return {name: values[-1] for name, values in parse_qs(urlsplit(link).query).items()}


def test_the_breach_scope_s_csv_link_keeps_its_query_without_a_second_token(client):
    """The page's own address carries the token: its CSV link is built from the query
    without it, and adds its own once."""
    officer, _, window = _breach(None)
    client.force_login(officer)

    page = client.get(reverse("privacy:breach"), {**window, "asked": _token(client)})

    (link,) = _links_to(page.content.decode(), reverse("privacy:breach_csv"))
    assert parse_qs(urlsplit(link).query) == {
        **{name: [value] for name, value in window.items()},
        "asked": [_token(client)],
    }


# --- signing in on the way does not run it (the login page's next) --------------------------


def test_a_link_followed_through_the_sign_in_asks_after_it(client):
    make_backend(name="Cloud")
    make_user("pia@corp.example", Role.PRIVACY_OFFICER, password="correct-horse-battery")
    address = f"{reverse('privacy:breach')}?{urlencode(_window())}"
    # A token seen before signing in (the signed-out session's) is as dead as none.
    client.get(reverse("account_login"))
    stale = _token(client)
    address_with_stale = f"{address}&asked={stale}" if stale else address

    to_login = client.get(address_with_stale)
    assert to_login.status_code == 302
    login = to_login["Location"]
    assert urlsplit(login).path == reverse("account_login")
    before = _newest()
    signed_in = client.post(
        login,
        {"login": "pia@corp.example", "password": "correct-horse-battery"},
        follow=True,
        HTTP_SEC_FETCH_SITE="same-origin",
    )

    assert signed_in.redirect_chain[-1][0] == address_with_stale
    assert _asks(signed_in)
    assert [a for a in _new_events(before) if a == Action.BREACH_SCOPED] == []


# --- pages that record nothing are left alone --------------------------------------------------


@pytest.mark.parametrize("query", [{}, {"asked": "0" * 32}])
def test_the_empty_breach_form_opens_from_anywhere(client, query):
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))

    response = client.get(reverse("privacy:breach"), query, HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Show the scope" in page and CONFIRM_HEADING not in page
    assert "field-error" not in page  # not taken for a form sent empty


def test_the_compliance_report_page_opens_from_anywhere(client):
    client.force_login(make_user("rita@corp.example", Role.AUDITOR))
    before = _newest()

    response = client.get(reverse("audit:report"), HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 200
    assert CONFIRM_HEADING not in response.content.decode()
    assert _new_events(before) == []


def test_a_visitor_without_the_role_is_refused_as_before(client):
    client.force_login(make_user("otto@corp.example"))

    response = client.get(reverse("audit:checkpoints_file"))

    assert response.status_code == 403


def test_anonymous_visitors_go_to_the_login_page_as_before(client):
    response = client.get(reverse("privacy:breach_csv"))

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the address it shows and links ------------------------------------------------------------


def test_what_the_query_carries_is_escaped_and_stays_in_the_query(client):
    make_backend(name="Cloud")
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))
    crafted = {"start": '"><script>alert(1)</script>', "end": "javascript:alert(1)"}

    response = client.get(reverse("privacy:breach"), crafted, HTTP_SEC_FETCH_SITE="cross-site")

    page = response.content.decode()
    assert "<script>alert(1)" not in page and '"><script' not in page
    link = _confirm_link(response)
    assert link.startswith("/privacy/breach/?")
    assert parse_qs(urlsplit(link).query) == {
        **{name: [value] for name, value in crafted.items()},
        "asked": [_token(client)],
    }


def test_a_path_naming_another_host_never_reaches_the_page(client):
    """``//evil.example/…`` would be a link to another site if echoed: Django's resolver
    does not match it to any page (a 404), so no confirmation page shows it."""
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))

    response = client.get(
        "/privacy/breach/",
        {"start": "x"},
        PATH_INFO="//evil.example/privacy/breach/",
        HTTP_SEC_FETCH_SITE="cross-site",
    )

    assert response.status_code == 404
    assert "evil.example" not in response.content.decode()


def test_the_address_is_rebuilt_from_the_page_that_matched():
    """Whatever the request's own path says, the link is the matched page's path on this
    site, with the query re-encoded, any token it carried replaced by the session's."""
    request = RequestFactory().get(
        "/privacy/breach/",
        {"start": "//evil.example/", "asked": "0" * 32, "end": "https://evil.example/"},
    )
    request.path = request.path_info = "//evil.example/privacy/breach/"
    request.resolver_match = resolve("/privacy/breach/")
    request.session = SessionStore()
    request.session.create()

    address = same_address(request)

    token = token_for_session(request.session.session_key)
    assert address == (
        "/privacy/breach/?start=%2F%2Fevil.example%2F&end=https%3A%2F%2Fevil.example%2F"
        f"&asked={token}"
    )
    assert len(token) == 32


def test_without_a_session_key_no_token_is_valid():
    assert token_for_session(None) == "" and token_for_session("") == ""


@pytest.mark.parametrize(
    "address",
    [
        lambda request: reverse("privacy:request_receipt", args=[request.public_id]),
        lambda request: reverse("privacy:request_archive", args=[request.public_id]),
    ],
    ids=["receipt", "archive"],
)
def test_someone_who_may_not_see_the_request_gets_its_404_not_the_question(
    request, client, address
):
    subject_request = request.getfixturevalue("copy")
    client.force_login(make_user("otto@corp.example", Role.STAFF))

    response = client.get(address(subject_request))

    assert response.status_code == 404


def test_another_persons_conversation_or_an_unknown_format_is_a_404_not_the_question(client):
    author = make_user("ann@corp.example", Role.STAFF)
    conversation = make_conversation(author, make_category(number=2, slug="internal"))
    client.force_login(make_user("bob@corp.example", Role.STAFF))
    assert (
        client.get(reverse("chat:export", args=[conversation.public_id, "md"])).status_code == 404
    )
    client.force_login(author)
    assert (
        client.get(reverse("chat:export", args=[conversation.public_id, "txt"])).status_code == 404
    )
    client.force_login(make_user("rita@corp.example", Role.AUDITOR))
    assert client.get(reverse("audit:export", args=["xlsx"])).status_code == 404
