"""Telling the recipients of erased data (GDPR Art. 19, CCPA § 1798.105(c)): which providers
a completed erasure owes a notice (they received the data in clear, outside the
organisation's servers, and keep what they receive), the record that each was told, and
where it shows: the request's page, the desk and the letter to the requester.

The receipt listed the recipients and the letter named them, but nothing asked the officer
to tell the providers, and nothing recorded that they were."""

import datetime as dt
import html
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from chat import services as chat
from governance.models import HostingClass
from governance.roles import Role
from privacy import recipients, services
from privacy.models import RecipientNotice, SubjectRequest
from tests.factories import make_backend, make_user
from tests.privacy.conftest import receive, release, run

TODAY = timezone.localdate
VENDOR = "Vendor API"  # external, keeps inputs 30 days: owed a notice
ZDR = "Zero API"  # external, keeps nothing
OWN = "Own model"  # on-premise
HOW = "email to privacy@vendor.example"


def _entry(
    backend, *, hosting="external_api", calls=3, in_clear=2, region="eu-west-1", unchecked=0
):
    """A recipient as the receipt lists it (privacy.scope.recipients)."""
    return {
        "backend": backend,
        "hosting_class": hosting,
        "region": region,
        "calls": calls,
        "in_clear": in_clear,
        "unchecked": unchecked,
    }


#: A receipt from before what was sent was checked for the values the request named.
UNCHECKED_RECEIPT = {k: v for k, v in _entry(VENDOR, in_clear=0).items() if k != "unchecked"}


# --- who is owed a notice: the pure rule ------------------------------------------------

KEPT = {VENDOR: 30, ZDR: 0, OWN: 0, "Unstated": None}


def test_a_provider_that_received_the_data_in_clear_and_keeps_it_is_owed_a_notice():
    assert recipients.why_not_owed(_entry(VENDOR), KEPT) == ""


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_entry(OWN, hosting="on_prem"), recipients.ON_PREMISE),
        (_entry(VENDOR, hosting="on_prem"), recipients.ON_PREMISE),  # as the trail named it
        (_entry(VENDOR, in_clear=0), recipients.PLACEHOLDERS),
        (_entry(OWN, hosting="on_prem", in_clear=0), recipients.ON_PREMISE),
        (_entry(ZDR), recipients.ZERO_RETENTION),
        (_entry(ZDR, hosting="private_cloud"), recipients.ZERO_RETENTION),
    ],
)
def test_a_recipient_that_kept_nothing_of_the_data_needs_no_notice_and_says_why(entry, reason):
    assert recipients.why_not_owed(entry, KEPT) == reason
    assert recipients.REASONS[reason]


@pytest.mark.parametrize(
    "entry",
    [
        _entry("Deleted or renamed API"),  # no longer configured: nothing shows it kept nothing
        _entry("Unstated"),  # the provider states no retention
        _entry(VENDOR, hosting="private_cloud"),
        _entry(VENDOR, hosting=""),
        {k: v for k, v in _entry(VENDOR).items() if k != "in_clear"},  # an older receipt
        _entry(VENDOR, in_clear=None),
        _entry(VENDOR, in_clear=0, unchecked=1),  # a call in a conversation with no text kept
        UNCHECKED_RECEIPT,
    ],
)
def test_what_cannot_be_shown_to_have_kept_nothing_is_owed_to_be_safe(entry):
    assert recipients.why_not_owed(entry, KEPT) == ""


# --- the record ---------------------------------------------------------------------------


@pytest.fixture
def backends(db):
    make_backend(name=VENDOR, hosting_class=HostingClass.EXTERNAL_API, provider_retention_days=30)
    make_backend(name=ZDR, hosting_class=HostingClass.EXTERNAL_API, provider_retention_days=0)
    make_backend(name=OWN, hosting_class=HostingClass.ON_PREM, provider_retention_days=0)


def _erasure(officers, capture, entries, **overrides) -> SubjectRequest:
    """A completed erasure whose receipt lists ``entries`` as its recipients."""
    request = run(receive(officers, **overrides), officers, capture)
    assert request.status == SubjectRequest.Status.COMPLETED
    receipt = {**request.receipt, "recipients": entries}
    SubjectRequest.objects.filter(pk=request.pk).update(receipt=receipt)
    return SubjectRequest.objects.get(pk=request.pk)


ALL_THREE = [_entry(OWN, hosting="on_prem"), _entry(VENDOR), _entry(ZDR)]


@pytest.fixture
def erasure(officers, backends, django_capture_on_commit_callbacks):
    return _erasure(officers, django_capture_on_commit_callbacks, ALL_THREE)


def _tell(request, actor, backend=VENDOR, told_on=None, how=HOW):
    return recipients.record_notice(
        request=request, actor=actor, backend=backend, told_on=told_on or TODAY(), how=how
    )


def test_an_officer_records_that_a_provider_was_told_and_the_trail_says_so_without_how(
    officers, erasure
):
    notice = _tell(erasure, officers[1], how="  email to privacy@vendor.example  ")
    assert (notice.backend, notice.told_on, notice.how) == (VENDOR, TODAY(), HOW)
    assert notice.recorded_by == officers[1] and notice.request == erasure
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_RECIPIENT_TOLD)
    assert event.actor == officers[1] and event.target_id == str(erasure.public_id)
    assert event.details == {
        "kind": "erasure",
        "regime": "gdpr",
        "backend": VENDOR,
        "told_on": TODAY().isoformat(),
    }
    written = json.dumps([event.details, event.before, event.after, event.message])
    assert "vendor.example" not in written  # how they were told may name a person


def test_the_page_of_a_completed_erasure_lists_whom_to_tell_and_why_not_the_others(
    client, officers, erasure
):
    found = recipients.of_erasure(erasure)
    assert [(r.backend, r.reason) for r in found.rows] == [
        (OWN, recipients.ON_PREMISE),
        (VENDOR, ""),
        (ZDR, recipients.ZERO_RETENTION),
    ]
    assert [r.backend for r in found.to_tell] == [VENDOR] and not found.told
    client.force_login(officers[0])
    page = _page(client, erasure)
    assert "Tell who received the data (GDPR Art. 19)" in page
    assert "runs on the organisation's own servers" in page
    assert "zero data retention" in page
    assert reverse("privacy:request_recipient_told", args=[erasure.public_id]) in page
    assert f'name="backend" value="{VENDOR}"' in page
    assert f'name="backend" value="{OWN}"' not in page  # nobody tells their own servers
    # One not owed may be told all the same, out of the way.
    assert page.count("Tell anyway") == 1 and f'value="{ZDR}" id="anyway_0_backend"' in page


def _page(client, request) -> str:
    response = client.get(reverse("privacy:request", args=[request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_officer_records_it_from_the_page_and_it_shows_who_told_whom_when_and_how(
    client, officers, erasure
):
    client.force_login(officers[1])
    url = reverse("privacy:request_recipient_told", args=[erasure.public_id])
    yesterday = TODAY() - dt.timedelta(days=1)
    SubjectRequest.objects.filter(pk=erasure.pk).update(
        completed_at=timezone.now() - dt.timedelta(days=2)
    )
    response = client.post(url, {"backend": VENDOR, "told_on": yesterday.isoformat(), "how": HOW})
    assert response.status_code == 302
    notice = RecipientNotice.objects.get()
    assert (notice.backend, notice.told_on, notice.recorded_by) == (VENDOR, yesterday, officers[1])
    page = _page(client, erasure)
    assert f"Told on {yesterday:%-d %b %Y} ({HOW}) by {officers[1].display_name}" in page
    assert 'id="recipient_0_backend"' not in page  # nobody left to tell


def test_a_form_without_how_is_refused_saying_so_and_keeps_the_date(client, officers, erasure):
    client.force_login(officers[0])
    url = reverse("privacy:request_recipient_told", args=[erasure.public_id])
    response = client.post(url, {"backend": VENDOR, "told_on": TODAY().isoformat(), "how": " "})
    assert response.status_code == 422
    page = html.unescape(response.content.decode())
    assert "Say how the provider was told" in page
    assert f'value="{TODAY().isoformat()}"' in page
    assert not RecipientNotice.objects.exists()


def test_the_page_refuses_what_the_service_refuses_with_its_message(client, officers, erasure):
    client.force_login(officers[0])
    url = reverse("privacy:request_recipient_told", args=[erasure.public_id])
    response = client.post(
        url, {"backend": OWN, "told_on": TODAY().isoformat(), "how": HOW}, follow=True
    )
    assert "needs no notice: it runs on the organisation's own servers" in html.unescape(
        response.content.decode()
    )
    assert not RecipientNotice.objects.exists()


def test_a_ccpa_erasure_asks_to_tell_the_service_providers_to_delete(
    client, officers, backends, django_capture_on_commit_callbacks
):
    erasure = _erasure(
        officers, django_capture_on_commit_callbacks, [_entry(VENDOR)], regime="ccpa"
    )
    client.force_login(officers[0])
    page = _page(client, erasure)
    assert "Tell service providers to delete (CCPA §1798.105(c))" in page
    assert "GDPR Art. 19" not in page


def test_an_open_request_or_an_access_copy_has_no_one_to_tell(
    client, officers, backends, django_capture_on_commit_callbacks
):
    copy = _erasure(officers, django_capture_on_commit_callbacks, [_entry(VENDOR)], kind="access")
    still_open = receive(officers, identifiers=[("email", "open@example.org")])
    client.force_login(officers[0])
    for request in (copy, still_open):
        assert recipients.of_erasure(request) is None
        assert "Tell who received the data" not in _page(client, request)


def _refused(request, actor, match, **tell):
    with pytest.raises(services.PrivacyError, match=match):
        _tell(request, actor, **tell)
    assert not RecipientNotice.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_RECIPIENT_TOLD).exists()


@pytest.mark.parametrize(
    ("tell", "refusal"),
    [
        ({"backend": OWN}, f"{OWN} needs no notice: it runs on the organisation's own servers"),
        ({"backend": "Never called"}, "Never called did not receive this person's data"),
        ({"told_on": TODAY() + dt.timedelta(days=1)}, "cannot be in the future"),
        ({"told_on": TODAY() - dt.timedelta(days=1)}, "before the erasure was completed"),
        ({"how": "   "}, "Say how the provider was told"),
    ],
)
def test_a_notice_that_is_not_owed_or_could_not_have_happened_is_refused(
    officers, erasure, tell, refusal
):
    _refused(erasure, officers[0], refusal, **tell)


def test_only_a_completed_erasure_records_notices(
    officers, backends, django_capture_on_commit_callbacks
):
    copy = _erasure(officers, django_capture_on_commit_callbacks, [_entry(VENDOR)], kind="access")
    _refused(copy, officers[0], "only a completed erasure")
    still_open = receive(officers, identifiers=[("email", "open@example.org")])
    _refused(still_open, officers[0], "only a completed erasure")


def test_the_officer_the_erasure_is_about_does_not_record_its_notices(
    officers, backends, django_capture_on_commit_callbacks
):
    olga = make_user("olga@corp.example", Role.PRIVACY_OFFICER)
    about_olga = _erasure(
        officers,
        django_capture_on_commit_callbacks,
        [_entry(VENDOR)],
        identifiers=[("email", olga.email)],
    )
    _refused(about_olga, olga, "This request is about you")
    _tell(about_olga, officers[0])  # another officer does


def test_a_notice_is_recorded_once_and_the_second_says_when_and_how_the_first_was(
    officers, erasure
):
    _tell(erasure, officers[0])
    with pytest.raises(services.PrivacyError, match=f"already recorded: told on .* \\({HOW}\\)"):
        _tell(erasure, officers[1], how="phone call")
    assert RecipientNotice.objects.get().how == HOW


# --- from the chat to the page: a real erasure, and the one that finishes it -------------


def test_a_staff_members_erasure_owes_a_notice_to_the_api_that_got_their_chat(
    client, org, officers, django_capture_on_commit_callbacks
):
    """Alice's own conversation went to the external API in clear (the demo's keeps inputs
    30 days); one in the confidential category went to the on-premise model."""
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.alice, org.internal, "Draft a note to the team about Friday.")
    _chat(capture, org.carol, org.confidential, f"Ask {org.alice.email} about Friday.")
    erasure = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    erasure = run(erasure, officers, capture)
    found = {r.backend: r.reason for r in recipients.of_erasure(erasure).rows}
    assert found == {"OpenAI business API": "", "Local Ollama": recipients.ON_PREMISE}
    _tell(erasure, officers[0], backend="OpenAI business API")


def _chat(capture, author, category, text):
    conversation = chat.start_conversation(owner=author, category=category)
    with capture(execute=True):
        chat.send_message(conversation=conversation, author=author, text=text)


def test_the_erasure_that_finishes_one_a_hold_kept_owes_its_own_notices(
    client, org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.alice, org.internal, "Draft a note to the team about Friday.")
    hold = services.place_hold(actor=officers[0], reason="Litigation 21", user=org.alice)
    first = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    first = run(first, officers, capture)
    _tell(first, officers[0], backend="OpenAI business API")
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    follow_up = services.finish_erasure(request=first, actor=officers[0])
    follow_up = run(follow_up, officers, capture)
    assert follow_up.status == SubjectRequest.Status.COMPLETED
    assert [r.backend for r in recipients.of_erasure(follow_up).to_tell] == ["OpenAI business API"]
    client.force_login(officers[1])
    to_tell = _desk(client).split("Recently closed")[0]
    assert follow_up.reference in to_tell and first.reference not in to_tell


# --- the desk -------------------------------------------------------------------------------


def _desk(client) -> str:
    response = client.get(reverse("privacy:desk"))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_desk_lists_the_erasures_whose_recipients_are_still_to_be_told(
    client, officers, erasure, backends, django_capture_on_commit_callbacks
):
    nobody = _erasure(officers, django_capture_on_commit_callbacks, [_entry(ZDR)],
                      identifiers=[("email", "nobody@example.org")])  # fmt: skip
    client.force_login(officers[0])
    desk = _desk(client)
    assert "Erasures whose recipients are still to be told" in desk
    assert erasure.reference in desk.split("Recently closed")[0]
    assert nobody.reference not in desk.split("Recently closed")[0]
    _tell(erasure, officers[0])
    assert "Erasures whose recipients are still to be told" not in _desk(client)


def test_the_desk_reads_them_in_one_query(
    officers, backends, django_capture_on_commit_callbacks, django_assert_num_queries
):
    for number in range(3):
        _erasure(officers, django_capture_on_commit_callbacks, ALL_THREE,
                 identifiers=[("email", f"p{number}@example.org")])  # fmt: skip
    recipients.recorded_since()  # read once per process
    with django_assert_num_queries(1):
        owing = recipients.erasures_to_tell()
    assert [request.recipients_to_tell for request in owing] == [1, 1, 1]


RECEIPTS = [
    [],
    [_entry(VENDOR)],
    [_entry(VENDOR, in_clear=0)],
    [_entry(VENDOR, in_clear=None)],
    [{k: v for k, v in _entry(VENDOR).items() if k != "in_clear"}],
    [_entry(VENDOR, hosting="on_prem")],
    [_entry(VENDOR, hosting="")],
    [_entry(ZDR), _entry(OWN, hosting="on_prem")],
    [_entry(ZDR, hosting="private_cloud"), _entry("Gone API"), _entry("Unstated")],
    ALL_THREE,
    [_entry(VENDOR), _entry("Gone API", in_clear=1)],
    [_entry(VENDOR, in_clear=0, unchecked=1)],
    [UNCHECKED_RECEIPT],
]


def test_the_desk_counts_in_the_database_what_the_page_counts_in_python(
    officers, backends, django_capture_on_commit_callbacks
):
    """The desk's query and :func:`recipients.why_not_owed` say the same, notices told
    included, on every receipt shape."""
    make_backend(name="Unstated", hosting_class=HostingClass.EXTERNAL_API)
    made = [
        _erasure(
            officers,
            django_capture_on_commit_callbacks,
            entries,
            identifiers=[("email", f"p{number}@example.org")],
        )  # fmt: skip
        for number, entries in enumerate(RECEIPTS)
    ]
    _tell(made[10], officers[0], backend="Gone API")
    in_python = {
        request.reference: len(recipients.of_erasure(request).to_tell)
        for request in made
        if recipients.of_erasure(request).to_tell
    }
    in_sql = {r.reference: r.recipients_to_tell for r in recipients.erasures_to_tell()}
    assert in_sql == in_python
    assert in_python == {
        made[1].reference: 1,
        made[3].reference: 1,
        made[4].reference: 1,
        made[6].reference: 1,
        made[8].reference: 2,
        made[9].reference: 1,
        made[10].reference: 1,
        made[11].reference: 1,
        made[12].reference: 1,
    }


def test_an_erasure_completed_before_notices_were_recorded_is_not_asked_on_the_desk(
    officers, erasure, monkeypatch
):
    later = erasure.completed_at + dt.timedelta(minutes=1)
    monkeypatch.setattr(recipients, "recorded_since", lambda: later)
    assert recipients.erasures_to_tell() == []
    assert [r.backend for r in recipients.of_erasure(erasure).to_tell] == [VENDOR]  # page: yes


# --- the letter -------------------------------------------------------------------------------


def _letter(client, request) -> str:
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_letter_says_which_providers_were_asked_to_erase_it_and_why_not_the_others(
    client, officers, erasure
):
    _tell(erasure, officers[0])
    client.force_login(officers[1])
    letter = _letter(client, erasure)
    told = TODAY()
    assert "We asked the providers of these models to erase what they received" in letter
    assert f"{VENDOR}, on {told.day} {told:%B %Y}" in letter
    assert f"{OWN}: it runs on our own servers" in letter
    assert f"{ZDR}: its provider keeps nothing it receives (zero data retention)" in letter
    assert HOW not in letter  # how the provider was told is the officers' record


def test_the_letter_does_not_claim_a_provider_was_asked_before_it_is_recorded(
    client, officers, erasure
):
    client.force_login(officers[1])
    letter = _letter(client, erasure)
    assert "We asked the providers" not in letter
    assert f"Not recorded yet as asked to erase: {VENDOR}" in letter  # the officer's reminder


def test_the_letter_says_nothing_of_it_without_recipients(
    client, officers, backends, django_capture_on_commit_callbacks
):
    erasure = _erasure(officers, django_capture_on_commit_callbacks, [])
    client.force_login(officers[1])
    letter = _letter(client, erasure)
    assert "No message naming you was sent to an AI model." in letter
    assert "We asked the providers" not in letter and "We did not need to ask" not in letter


# --- who may record -------------------------------------------------------------------------


def test_only_privacy_officers_may_record_a_notice(client, officers, erasure):
    auditor = make_user("audrey@corp.example", Role.AUDITOR)
    client.force_login(auditor)
    url = reverse("privacy:request_recipient_told", args=[erasure.public_id])
    response = client.post(url, {"backend": VENDOR, "told_on": TODAY().isoformat(), "how": HOW})
    assert response.status_code == 403
    assert not RecipientNotice.objects.exists()


# --- over REST ------------------------------------------------------------------------------


def test_the_api_records_a_notice_with_the_pages_checks_and_shows_it(officers, erasure):
    from tests.api.test_rest import _client_of

    client = _client_of(officers[0])
    url = f"/api/privacy/requests/{erasure.public_id}/recipients-told/"
    today = TODAY().isoformat()
    missing = client.post(url, {"backend": VENDOR, "told_on": today}, format="json")
    assert missing.status_code == 400 and list(missing.json()) == ["how"]
    unowed = client.post(url, {"backend": OWN, "told_on": today, "how": HOW}, format="json")
    assert unowed.status_code == 400
    assert unowed.json() == {
        "non_field_errors": [f"{OWN} needs no notice: it runs on the organisation's own servers."]
    }
    unknown = client.post(url, {"backend": VENDOR, "told_on": today, "how": HOW, "to": "x"})
    assert unknown.status_code == 400 and not RecipientNotice.objects.exists()

    recorded = client.post(url, {"backend": VENDOR, "told_on": today, "how": HOW}, format="json")
    assert recorded.status_code == 200, recorded.content
    assert recorded.json()["recipient_notices"] == [
        {
            "backend": VENDOR,
            "told_on": today,
            "how": HOW,
            "recorded_by": officers[0].display_name,
            "recorded_at": recorded.json()["recipient_notices"][0]["recorded_at"],
        }
    ]
    again = client.post(url, {"backend": VENDOR, "told_on": today, "how": "fax"}, format="json")
    assert again.status_code == 400 and "already recorded" in again.json()["non_field_errors"][0]


def test_only_privacy_officers_record_a_notice_over_rest(officers, erasure):
    from tests.api.test_rest import _client_of

    auditor = make_user("audrey@corp.example", Role.AUDITOR)
    url = f"/api/privacy/requests/{erasure.public_id}/recipients-told/"
    body = {"backend": VENDOR, "told_on": TODAY().isoformat(), "how": HOW}
    assert _client_of(auditor).post(url, body, format="json").status_code == 403
    assert _client_of(None).post(url, body, format="json").status_code == 401
    assert not RecipientNotice.objects.exists()
