import datetime as dt
import json
import re
from urllib.parse import urlencode, urlsplit

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import chain, charts, exports, reports
from audit.filters import EventFilter, target_kind
from audit.filters_in_words import filters_in_words
from audit.forms import KeptCheckpointsForm
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import (
    COPY_WHAT,
    ENDS_BEFORE,
    check_uploaded_copy,
    checkpoint_lines,
    head,
    pseudonym,
    record,
)
from audit.tasks import checking_upload_alone, verify_chain
from audit.words import in_words, why_blocked
from config.asked_here import asked_here, without_token
from config.downloads import attachment
from config.numbers import whole_number
from governance.access import any_role_required, role_required
from governance.policy import finding_name
from governance.roles import Role

PAGE_SIZE = 50
EXPORT_FORMATS = {
    "csv": ("text/csv; charset=utf-8", exports.csv_lines),
    "jsonl": ("application/x-ndjson; charset=utf-8", exports.jsonl_lines),
}
MAX_REPORT_DAYS = 366
REPORT_FILES = ("csv", "json")


def _last_verification() -> AuditEvent | None:
    """The trail's last verification: not a check of an uploaded file, whose uploader chose
    what it held (each has "kept_checkpoints", those recorded before "source" too)."""
    return (
        AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_VERIFIED)
        .exclude(details__has_key="kept_checkpoints")
        .order_by("-sequence")
        .first()
    )


def chain_status(user, *, verifying: str | None = None) -> dict:
    """The chain panel: head, the last verification and the last checkpoint; links and the
    "Verify now" button for auditors (a policy admin sees it on the dashboard, read-only).
    ``verifying``: the sequence of the verification before the one "Verify now" started; until
    a newer one is recorded, the panel says so and asks for itself again."""
    last_verification = _last_verification()
    first_bad = last_verification.details.get("first_bad_sequence") if last_verification else None
    after = whole_number(verifying or "")
    last = last_verification.sequence if last_verification else 0
    last_checkpoint = AuditCheckpoint.objects.order_by("-sequence", "-created_at").first()
    return {
        "verifying": after if after is not None and last <= after else None,
        "head": head(),
        "last_verification": last_verification,
        "first_bad": first_bad,
        "last_checkpoint": last_checkpoint,
        # No checkpoint row, yet audit.checkpoint events: rows were removed. Said at once, not
        # only once the next verification has run (a count on the action's index).
        "recorded_checkpoints": 0
        if last_checkpoint
        else AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_CHECKPOINT).count(),
        "auditor": user.has_perm(Role.AUDITOR.permission),
    }


@require_GET
@role_required(Role.AUDITOR)
def events(request: HttpRequest) -> HttpResponse:
    """The trail, newest first, filtered, paged by sequence number (keyset: fast at any depth)."""
    filters = EventFilter(request.GET or None)
    rows = filters.apply(AuditEvent.objects.order_by("-sequence"))
    if (before := whole_number(request.GET.get("before", ""))) is not None:
        rows = rows.filter(sequence__lt=before)
    page = list(rows[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].sequence if len(page) > PAGE_SIZE else None
    for event in page:  # the link to the events about its target says what that is
        event.target_kind = target_kind(event.target_type)
        event.why_blocked = why_blocked(event.details) if event.outcome == "blocked" else ""
    query = urlencode(filters.active())  # the template's |urlencode would quote a dict's repr
    template = "audit/events.html"
    if request.htmx and not request.htmx.boosted:
        template += "#event-results"
    return render(
        request,
        template,
        {
            "filters": filters,
            "events": page[:PAGE_SIZE],
            "older": older,
            "paged": before is not None,
            "query": query,
            "filters_in_words": filters_in_words(filters, before=before),
            "status": chain_status(request.user, verifying=request.GET.get("verifying")),
            "export_formats": EXPORT_FORMATS,
        },
        status=422 if filters.errors else 200,  # htmx swaps 422 (base.html), not 400
    )


def _target_note(event: AuditEvent, kind: str) -> str:
    """What the target's name leaves out: its kind and id, each unless the name says it
    already ("Conversation 1f2e…" needs neither, "2 · Internal" its kind)."""
    parts = []
    if not event.target_repr.casefold().startswith(kind.casefold()):
        parts.append(kind)
    if event.target_id and event.target_id not in event.target_repr:
        parts.append(event.target_id)
    return " ".join(parts)


@require_GET
@role_required(Role.AUDITOR)
def event_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    event = get_object_or_404(AuditEvent.objects.select_related("actor"), sequence=sequence)
    previous = (
        AuditEvent.objects.filter(sequence=sequence - 1)
        .values(*chain.CHAINED_FIELDS, "prev_hash", "hash")
        .first()
    )
    row = AuditEvent.objects.filter(pk=event.pk).values(*chain.READ_FIELDS, "prev_hash", "hash")[0]
    expected_prev = previous["hash"] if previous else chain.GENESIS_HASH
    links_ok = (
        row["prev_hash"] == expected_prev
        and chain.link_hash(row["prev_hash"], row) == row["hash"]
        and not chain.values_differ(row, pseudonym)
    )
    recorded = {name: getattr(event, name) for name in ("before", "after", "details")}
    recorded = {name: value for name, value in recorded.items() if value}
    findings = (event.details.get("findings") or {}).items()
    # The list's filters, carried by its links: "← Audit trail" goes back to that list.
    trail_query = urlencode(EventFilter(request.GET or None).active())
    return render(
        request,
        "audit/event_detail.html",
        {
            "event": event,
            "trail_query": trail_query,
            "target_note": _target_note(event, target_kind(event.target_type)),
            "findings": [(finding_name(kind), count) for kind, count in findings],
            "links_ok": links_ok,
            "why_blocked": why_blocked(event.details) if event.outcome == "blocked" else "",
            "has_next": AuditEvent.objects.filter(sequence=sequence + 1).exists(),
            "in_words": {
                name: in_words(value, event.target_type) for name, value in recorded.items()
            },
            "json": {
                name: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
                for name, value in recorded.items()
            },
        },
    )


def _known_format(request: HttpRequest, fmt: str) -> None:
    """404 for a format the trail is not exported to (before asking whether to export)."""
    if fmt not in EXPORT_FORMATS:
        raise Http404


@require_GET
@role_required(Role.AUDITOR)
@asked_here("export the audit trail's events", button="Export the events", check=_known_format)
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The filtered events as CSV or JSON Lines, streamed; the export itself is recorded."""
    _known_format(request, fmt)
    filters = EventFilter(without_token(request.GET) or None)
    if filters.is_bound and not filters.is_valid():
        # Plain text: the errors repeat what was submitted, which must not render as HTML.
        return HttpResponseBadRequest("Nothing exported: " + "; ".join(
            f"{_filter_label(filters, field)}{' '.join(errors)}"
            for field, errors in filters.errors.items()
        ), content_type="text/plain; charset=utf-8")  # fmt: skip
    with transaction.atomic():
        event = record(
            action=AuditEvent.Action.AUDIT_EXPORTED,
            actor=request.user,
            details={"format": fmt, "filters": filters.recorded(), "time_zone": settings.TIME_ZONE},
        )
    # The export covers what existed before it was asked for, its own event included.
    rows = filters.apply(AuditEvent.objects.filter(sequence__lte=event.sequence))
    content_type, lines = EXPORT_FORMATS[fmt]
    content = lines(rows)
    if isinstance(request, ASGIRequest):  # uvicorn: stream it; WSGI and tests: as it is
        content = exports.streamed(content)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return attachment(
        content,
        filename=f"steward-audit-{stamp}.{fmt}",
        content_type=content_type,
        streamed=True,
    )


@require_POST
@role_required(Role.AUDITOR)
def verify(request: HttpRequest) -> HttpResponse:
    """Queue a full verification of chain and checkpoints; the result lands in the trail."""
    # Read first: outside a transaction (or with an eager worker) the new one runs at once.
    before = _last_verification()
    transaction.on_commit(lambda: verify_chain.delay(request.user.pk))
    messages.info(request, "Verification started. Its result appears in the chain panel.")
    query = {**_trail_filters_of(request), "verifying": before.sequence if before else 0}
    return redirect(reverse("audit:events") + "?" + urlencode(query))


def _trail_filters_of(request: HttpRequest) -> dict[str, str]:
    """The filters of the trail page "Verify now" was pressed on, to keep them on the page it
    returns to: the page's address as it is now (filters applied without a reload change
    it, not the form the button is in). Only valid filters, from this site's trail page."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc not in ("", request.get_host()) or referer.path != reverse("audit:events"):
        return {}
    return EventFilter(QueryDict(referer.query)).active()


@require_GET
@role_required(Role.AUDITOR)
def chain_panel(request: HttpRequest) -> HttpResponse:
    """The chain panel alone: what the page asks for while a verification runs."""
    status = chain_status(request.user, verifying=request.GET.get("verifying"))
    return render(request, "audit/partials/chain_panel.html", {"status": status, "announce": True})


@require_GET
@role_required(Role.AUDITOR)
def checkpoints(request: HttpRequest) -> HttpResponse:
    return _checkpoints_page(request, KeptCheckpointsForm())


BUSY = (
    "A verification (beat's, or an auditor's), or the check of another file, is already "
    "running: nothing was checked. Try again in a minute."
)


@require_POST
@role_required(Role.AUDITOR)
def check_checkpoints(request: HttpRequest) -> HttpResponse:
    """Hold the trail against a checkpoints file kept elsewhere: the one record of the head
    that whoever owns the database cannot rewrite. The check is recorded apart from the
    trail's own verification (who asked and how many checkpoints, never the file), and
    told to the auditors when the trail does not hold one of the file's checkpoints; its
    outcome is shown in words on the page it returns to."""
    form = KeptCheckpointsForm(request.POST, request.FILES)
    if not form.is_valid():
        return _checkpoints_page(request, form, status=422)
    with checking_upload_alone() as alone:
        if not alone:
            form.add_error(None, BUSY)
            return _checkpoints_page(request, form, status=409)
        check = check_uploaded_copy(
            actor=request.user, checkpoints=form.cleaned_data["checkpoints"]
        )
    return redirect(reverse("audit:checkpoints") + f"?checked={check.sequence}")


def _checkpoints_page(request: HttpRequest, form: KeptCheckpointsForm, status: int = 200):
    from audit import signing

    listed = list(AuditCheckpoint.objects.order_by("-sequence", "-created_at")[:100])
    return render(
        request,
        "audit/checkpoints.html",
        {
            "checkpoints": listed,
            "public_key": signing.public_key_text(),
            "form": form,
            "check": _kept_check(request.GET.get("checked", "")),
            "copy_file": settings.STEWARD_AUDIT_CHECKPOINT_FILE,
            "copy_failed": _copy_failed(listed[0] if listed else None),
        },
        status=status,
    )


def _kept_check(sequence: str) -> dict | None:
    """The check of a file kept elsewhere that event #``sequence`` recorded, in words: what
    it says of the file, and of the trail."""
    number = whole_number(sequence)
    event = (
        AuditEvent.objects.filter(sequence=number, action=AuditEvent.Action.AUDIT_VERIFIED).first()
        if number is not None
        else None
    )
    if event is None or "kept_checkpoints" not in event.details:
        return None
    details = event.details
    from_file = details.get("kept_problems") or []
    problems = [*from_file, *(details.get("checkpoint_problems") or [])]
    intact = not (details.get("error") or "first_bad_sequence" in details or problems)
    kept = details["kept_checkpoints"]
    held = kept - details.get("unverified_lines", 0)
    return {
        "event": event,
        "file_words": _file_in_words(details),
        "intact": intact,
        # What was held of the file: green only when every one of its checkpoints was.
        "held": f"{held:,} of {kept:,} held",
        "all_held": held == kept,
        "from_file": bool(from_file),
        "problems": problems,
        "words": _check_in_words(details, problems, intact),
    }


def _file_in_words(details: dict) -> str | None:
    """What is wrong with the file itself (None: every line verifies)."""
    unverified = details.get("unverified_lines", 0)
    if not unverified:
        return None
    first = details["file_problems"][0]
    more = unverified - 1
    ending = f", and {more:,} more line{'s' if more != 1 else ''} of it." if more else "."
    return first[0].upper() + first[1:] + ending


_ENDS_BEFORE = re.compile(
    rf"checkpoint at #(\d+)(?P<where> \(line \d+ of your file\))?: {re.escape(ENDS_BEFORE)}"
)


def _check_in_words(details: dict, problems: list[str], intact: bool) -> str:
    """The trail's outcome as an auditor reads it: how many were held, or the first problem
    (one the file shows first)."""
    checked = details.get("checked", 0)
    held = details["kept_checkpoints"] - details.get("unverified_lines", 0)
    if intact and not held:
        return (
            f"None of your file's checkpoints was held. The trail ({checked:,} events) holds "
            "every checkpoint stored beside it, and its chain is intact."
        )
    if intact:
        return (
            f"OK: {held:,} checkpoint{'s' if held != 1 else ''} held. The trail ({checked:,} "
            "events) holds every one of them and every checkpoint stored beside it, and its "
            "chain is intact."
        )
    if details.get("error"):
        return f"The check could not finish ({details['error']}): the server log has the details."
    if (first_bad := details.get("first_bad_sequence")) is not None:
        return (
            f"Event #{first_bad:,} does not follow from the one before it "
            f"({details.get('reason', 'no reason given')}): the trail was changed there."
        )
    problem = problems[0]
    if cut := _ENDS_BEFORE.fullmatch(problem):
        return (
            f"The trail ends at #{checked:,}, but a signed checkpoint vouches for "
            f"#{int(cut[1]):,}{cut['where'] or ''}: events were removed from its end."
        )
    return problem[0].upper() + problem[1:] + "."


def _copy_failed(newest: AuditCheckpoint | None) -> AuditEvent | None:
    """The event of a copy that could not be written, if none was signed since."""
    if newest is None:
        return None
    failed = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.AUDIT_EXPORTED,
            outcome=AuditEvent.Outcome.FAILURE,
            details__what=COPY_WHAT,
        )
        .order_by("-sequence")
        .first()
    )
    return failed if failed and failed.occurred_at >= newest.created_at else None


@require_GET
@role_required(Role.AUDITOR)
@asked_here(
    "download every signed checkpoint of the audit trail", button="Download all checkpoints"
)
def checkpoints_file(request: HttpRequest) -> HttpResponse:
    """Every checkpoint as JSON Lines, to keep outside Steward; the download is recorded."""
    with transaction.atomic():
        record(
            action=AuditEvent.Action.AUDIT_EXPORTED,
            actor=request.user,
            details={"format": "jsonl", "what": "checkpoints"},
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return attachment(
        "".join(checkpoint_lines()),
        filename=f"steward-checkpoints-{stamp}.jsonl",
        content_type="application/jsonl",
    )


def _period(query, default_days: int) -> reports.Period | None:
    """The period ``query`` (a request's GET) asks for with ``from`` and ``to``, each
    optional; None when it is malformed, backwards or too long."""
    today = timezone.localdate()
    try:
        first = dt.date.fromisoformat(query["from"]) if query.get("from") else None
        last = dt.date.fromisoformat(query["to"]) if query.get("to") else None
    except ValueError:
        return None
    last = last or today
    # The default start, no earlier than the calendar's first day.
    first = first or last - dt.timedelta(days=min(default_days - 1, (last - dt.date.min).days))
    if first > last or (last - first).days >= MAX_REPORT_DAYS:
        return None
    return reports.Period(first, last)


PERIOD_ERROR = f"Choose a start date before the end date, at most {MAX_REPORT_DAYS} days apart."


def _period_or_refused(request: HttpRequest, default_days: int):
    """The period asked for; refused, the default one and what was typed (the page shows
    the default's figures, and the dates as typed beside the reason they were refused)."""
    period = _period(request.GET, default_days)
    if period is not None:
        return period, None
    typed = {"from": request.GET.get("from", "")[:10], "to": request.GET.get("to", "")[:10]}
    return _period({}, default_days), {**typed, "error": PERIOD_ERROR}


@require_GET
@any_role_required(Role.AUDITOR, Role.POLICY_ADMIN)
def dashboard(request: HttpRequest) -> HttpResponse:
    period, refused = _period_or_refused(request, default_days=30)
    status = chain_status(request.user)
    as_of = status["head"]["sequence"] if status["head"] else 0
    # The chart images ask for the summary as of this same event: it is added up once.
    chart_query = urlencode({"from": period.first_day, "to": period.last_day, "at": as_of})
    summary = reports.summary_as_of(period, as_of)
    return render(
        request,
        "audit/dashboard.html",
        {
            "summary": summary,
            "category_key": charts.category_key(summary),
            "findings_key": charts.findings_key(summary),
            "period": period,
            "refused": refused,
            "chart_query": chart_query,
            "status": status,
            **_trail_context(period, request.user),
        },
        status=422 if refused else 200,
    )


@require_GET
@any_role_required(Role.AUDITOR, Role.POLICY_ADMIN)
@csp_update({"style-src": ["'unsafe-inline'"]})  # pygal's own <style>; no script runs in an <img>
def chart(request: HttpRequest, name: str) -> HttpResponse:
    if name not in charts.CHARTS:
        raise Http404
    period = _period(request.GET, default_days=30)
    if period is None:
        return HttpResponseBadRequest(PERIOD_ERROR)
    current = head()
    newest = current["sequence"] if current else 0
    at = whole_number(request.GET.get("at", ""))
    # Never past the newest event: the summary is kept under that number for later pages.
    as_of = newest if at is None else min(at, newest)
    # The dashboard's <picture> asks for drawings made for narrow screens (charts.NARROW_CHARTS).
    narrow = request.GET.get("size") == "narrow" and name in charts.NARROW_CHARTS
    draw = charts.CHARTS[name]
    summary = reports.summary_as_of(period, as_of)
    svg = draw(summary, narrow=True) if narrow else draw(summary)
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response


@require_GET
@role_required(Role.AUDITOR)
@asked_here(
    "download the compliance report as a file",
    button="Download the report",
    when=lambda request: request.GET.get("format") in REPORT_FILES,  # the page records nothing
)
def report(request: HttpRequest) -> HttpResponse:
    """The compliance report for a period, as a page or a downloadable CSV / JSON file."""
    period, refused = _period_or_refused(request, default_days=7)
    fmt = request.GET.get("format", "")
    if refused and fmt:
        return HttpResponseBadRequest(PERIOD_ERROR)
    if fmt in REPORT_FILES:
        return _report_file(request, reports.summarise(period, every_exception=True), fmt)
    summary = reports.summarise(period)
    requests_query = urlencode({"action": AuditEvent.Action.CHAT_REQUEST,
                                "since": period.first_day, "until": period.last_day})  # fmt: skip
    return render(
        request,
        "audit/report.html",
        {
            "summary": summary,
            "period": period,
            "refused": refused,
            "requests_query": requests_query,
            "generated_at": timezone.now(),  # a printed report says when it was drawn
            **_trail_context(period, request.user),
        },
        status=422 if refused else 200,
    )


def _trail_context(period: reports.Period, user) -> dict:
    """Where the trail begins, and whether ``period`` begins before it: those days were not
    recorded, and no figure may vouch for them (templates/audit/partials/unrecorded.html);
    its first event linked for an auditor (a policy admin's Insights may not open it)."""
    starts = reports.trail_start()
    return {
        "trail_starts": starts,
        "unrecorded": starts is None or starts.day > period.first_day,
        "trail_start_linked": user.has_perm(Role.AUDITOR.permission),
    }


def _report_file(request: HttpRequest, summary: reports.Summary, fmt: str) -> HttpResponse:
    import csv
    import io

    rows = reports.report_rows(summary, generated_at=timezone.now(), starts=reports.trail_start())
    with transaction.atomic():
        record(
            action=AuditEvent.Action.REPORT_EXPORTED,
            actor=request.user,
            details={"format": fmt, "from": summary.period.first_day.isoformat(),
                     "to": summary.period.last_day.isoformat(), "time_zone": settings.TIME_ZONE},
        )  # fmt: skip
    if fmt == "json":
        content = json.dumps(rows, indent=2, ensure_ascii=False)
        content_type = "application/json"
    else:
        buffer = io.StringIO(exports.BOM)
        buffer.seek(0, io.SEEK_END)
        writer = csv.DictWriter(buffer, fieldnames=reports.REPORT_COLUMNS)
        writer.writeheader()
        # Category and backend names are typed by policy admins, and start the routing keys.
        writer.writerows({name: exports.defuse(str(v)) for name, v in row.items()} for row in rows)
        content, content_type = buffer.getvalue(), "text/csv; charset=utf-8"
    name = f"steward-compliance-{summary.period.first_day}-{summary.period.last_day}.{fmt}"
    return attachment(content, filename=name, content_type=content_type)


def _filter_label(filters: EventFilter, field: str) -> str:
    """ "Since: " for a field's error; nothing for the form's own (Django's "__all__")."""
    if field == NON_FIELD_ERRORS or field not in filters.fields:
        return ""
    return f"{filters.fields[field].label or field.capitalize()}: "
