"""An access copy names who runs each model that received the person's data, and the
safeguard for a transfer outside the EU/EEA, where the backend records them (Art. 15(2))."""

import html
import io
import json
import zipfile

from django.utils import timezone

from privacy import archive
from privacy.disclosure import NO_SAFEGUARD_RECORDED, NOT_A_TRANSFER, ON_PREMISE_PROCESSOR
from privacy.models import SubjectRequest
from privacy.scope import digest_of
from tests.factories import make_backend

PROCESSOR = "OpenAI Ireland Ltd"
SAFEGUARD = "EU–US Data Privacy Framework"

RECIPIENTS = [
    {"backend": "Local Ollama", "hosting_class": "on_prem", "region": "", "calls": 3,
     "in_clear": 0},
    {"backend": "OpenAI business API", "hosting_class": "external_api", "region": "us-east",
     "calls": 4, "in_clear": 2},
    {"backend": "Retired model", "hosting_class": "external_api", "region": "us",
     "calls": 1, "in_clear": 1},
]  # fmt: skip


def _copy() -> tuple[dict, str]:
    request = SubjectRequest.objects.create(
        reference="DSR-2026-0001",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        digests=[digest_of("email", "jane.roe@example.org")],
        received_on=timezone.localdate(),
        due_on=timezone.localdate(),
    )
    sealed, _ = archive.build(request, recipients=RECIPIENTS, progress=lambda done: None)
    request.archive_sealed = sealed
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        summary = html.unescape(bundle.read("summary.html").decode())
        return json.loads(bundle.read("data.json")), summary


def test_the_copy_names_the_processor_and_the_safeguard_a_backend_records(db):
    make_backend(name="Local Ollama")
    make_backend(
        name="OpenAI business API",
        kind="openai",
        base_url="https://api.openai.com/v1",
        hosting_class="external_api",
        processor=PROCESSOR,
        transfer_safeguard=SAFEGUARD,
    )
    data, summary = _copy()
    transfers = {t["backend"]: t for t in data["about"]["transfers"]}
    assert transfers["OpenAI business API"]["processor"] == PROCESSOR
    assert transfers["OpenAI business API"]["safeguard"] == SAFEGUARD
    for words in ("Run by", PROCESSOR, SAFEGUARD):
        assert words in summary, words


def test_where_nothing_is_recorded_the_copy_keeps_sending_the_person_to_the_privacy_team(db):
    make_backend(name="Local Ollama")
    make_backend(
        name="OpenAI business API",
        kind="openai",
        base_url="https://api.openai.com/v1",
        hosting_class="external_api",
    )
    data, summary = _copy()
    transfers = {t["backend"]: t for t in data["about"]["transfers"]}
    assert transfers["Local Ollama"]["processor"] == ON_PREMISE_PROCESSOR
    assert transfers["OpenAI business API"]["processor"] == "not recorded"
    assert transfers["Retired model"]["processor"] == "not recorded"  # no longer configured
    assert transfers["Local Ollama"]["safeguard"] == NOT_A_TRANSFER  # it never left
    others = {t["safeguard"] for name, t in transfers.items() if name != "Local Ollama"}
    assert others == {NO_SAFEGUARD_RECORDED}
    assert "documented by the organisation's privacy team" in summary
