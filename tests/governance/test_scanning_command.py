"""``manage.py pii_scan``: JSON Lines in, entities out, bad lines named on stderr."""

import io
import json

import pytest
from django.core.management import CommandError, call_command


def run(*lines: str, **options) -> tuple[list[dict], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    call_command("pii_scan", stdin=stdin, stdout=stdout, stderr=stderr, **options)
    return [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()


def test_it_writes_one_result_per_line_with_offsets_into_the_text():
    text = "Mail jane\u200b@example.com or card 4111 1111 1111 1111"
    results, errors = run(
        json.dumps({"id": 7, "text": text}), json.dumps({"id": "b", "text": "nothing here"})
    )
    assert errors == ""
    assert results[1] == {"id": "b", "entities": []}
    assert results[0]["id"] == 7
    spans = [(e["type"], text[e["start"] : e["end"]]) for e in results[0]["entities"]]
    assert spans == [
        ("EMAIL_ADDRESS", "jane\u200b@example.com"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
    ]
    assert set(results[0]["entities"][0]) == {"type", "start", "end", "score"}


def test_it_reports_malformed_lines_by_number_and_keeps_going():
    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.StringIO(
        '{"id": 1, "text": "jane@example.com"}\n'
        "{not json secret-ish 4111111111111111\n"
        "\n"
        '["a list"]\n'
        '{"id": 4, "text": 5}\n'
        '{"text": "no id"}\n'
        '{"id": 6, "text": "ok"}\n'
    )
    with pytest.raises(CommandError, match="4 of 6 lines could not be scanned"):
        call_command("pii_scan", stdin=stdin, stdout=stdout, stderr=stderr)
    assert [json.loads(line)["id"] for line in stdout.getvalue().splitlines()] == [1, 6]
    errors = stderr.getvalue().splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 4", "line 5", "line 6"]
    assert "not valid JSON" in errors[0]
    assert "4111" not in stderr.getvalue()  # errors never echo the input


def test_it_reads_the_phone_regions_it_is_given():
    line = json.dumps({"id": 1, "text": "Ruf an: 030 901820"})
    assert run(line, regions=["US"])[0][0]["entities"] == []
    assert [e["type"] for e in run(line, regions=["de"])[0][0]["entities"]] == ["PHONE_NUMBER"]


def test_an_unknown_region_is_refused_rather_than_read_as_none():
    """``--region XX`` was accepted, and no national number was then found."""
    with pytest.raises(CommandError, match="Unknown region XX: give a two-letter country"):
        run(json.dumps({"id": 1, "text": "x"}), regions=["de", "xx"])


def test_it_matches_protected_terms_from_a_csv_file(tmp_path):
    terms = tmp_path / "terms.csv"
    terms.write_text("Acme Corp,client\nJosé Núñez,staff\n", encoding="utf-8")
    line = json.dumps({"id": 1, "text": "ACME corp met jose nunez"})
    [result], _ = run(line, terms=terms)
    assert [e["type"] for e in result["entities"]] == ["PROTECTED_TERM", "PERSON"]


def test_it_refuses_a_missing_terms_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read terms file"):
        run('{"id": 1, "text": "x"}', terms=tmp_path / "missing.csv")
