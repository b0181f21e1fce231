"""A policy import that shortens a category's retention makes the next purge delete
conversations the old window kept: Internal 14 → 7 days was applied as "1 change made."
and nothing else. Now, as on the console and the REST API, the dry run counts them, the
import refuses until ``--confirm-shorter-retention`` is given, and the import's audit
record says how many the confirmed cut deletes. A longer window, or a shorter one that
deletes nothing yet, applies at once."""

from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from governance.models import Category
from governance.policy_io import apply_import, export_policy, plan_import
from tests.governance.console import policy_events

CUT = (
    "Shorter retention: Internal kept 14 days, now 7 days. The next purge deletes "
    "1 conversation (3 messages) that 14 days would still keep."
)


def _policy(**values) -> str:
    """The exported policy with Internal given ``values``."""
    document = yaml.safe_load(export_policy())
    next(c for c in document["categories"] if c["slug"] == "internal").update(values)
    return yaml.safe_dump(document)


def _import(text, tmp_path, *flags) -> list[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    out = StringIO()
    call_command("policy", "import", str(path), *flags, stdout=out)
    return out.getvalue().splitlines()


def _kept() -> int | None:
    return Category.objects.get(slug="internal").retention_days


def test_a_dry_run_names_the_cut_under_the_changes(internal, tmp_path):
    lines = _import(_policy(retention_days=7), tmp_path, "--dry-run")
    assert lines[0] == "~ category internal: retention_days: 14 → 7"
    assert lines[1].startswith(CUT)
    assert "--confirm-shorter-retention" in "\n".join(lines)
    assert lines[-1] == "1 change would be made."
    assert _kept() == 14


def test_the_plan_carries_the_cut_by_slug(internal):
    plan = plan_import(_policy(retention_days=None))
    cut = plan.retention_cuts["internal"]
    assert (cut.after, cut.conversations, cut.messages) == ("no text", 2, 5)


def test_a_plain_import_refuses_and_changes_nothing(internal, tmp_path):
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError) as caught:
        _import(_policy(retention_days=7), tmp_path)
    message = str(caught.value)
    assert "nothing changed" in message
    assert CUT in message
    assert "--confirm-shorter-retention" in message
    assert _kept() == 14
    assert AuditEvent.objects.count() == events and policy_events() == []


def test_apply_import_itself_refuses_an_unconfirmed_cut(internal):
    with pytest.raises(Exception, match="1 conversation"):
        apply_import(_policy(retention_days=7))
    assert _kept() == 14


def test_confirmed_it_applies_says_the_outcome_and_records_the_counts(internal, tmp_path):
    text = _policy(blocks_all=True, retention_days=None)
    lines = _import(text, tmp_path, "--confirm-shorter-retention")
    category = Category.objects.get(slug="internal")
    assert category.blocks_all and category.retention_days is None
    assert (
        "Internal saved. It now keeps no text: the next purge deletes 2 conversations "
        "that 14 days kept." in lines
    )
    assert lines[-1] == "1 change made."
    imported = AuditEvent.objects.get(target_type="", details__source="import")
    assert imported.details == {  # counts and the slug: no text, nobody's name
        "source": "import",
        "changes": 1,
        "retention_cuts": [{"category": "internal", "conversations": 2, "messages": 5}],
    }


def test_a_shortening_that_deletes_nothing_yet_applies_without_the_flag(internal, tmp_path):
    lines = _import(_policy(retention_days=12), tmp_path)
    assert lines == ["~ category internal: retention_days: 14 → 12", "1 change made."]
    assert _kept() == 12
    imported = AuditEvent.objects.get(target_type="", details__source="import")
    assert "retention_cuts" not in imported.details


@pytest.mark.parametrize("flags", [(), ("--dry-run",)])
def test_a_lengthening_never_asks(internal, tmp_path, flags):
    lines = _import(_policy(retention_days=30), tmp_path, *flags)
    assert not any("Shorter retention" in line or "confirm" in line for line in lines)
    assert _kept() == (14 if flags else 30)
