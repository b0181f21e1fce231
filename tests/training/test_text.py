"""What the policy's diff shows, for documents of the size people write (no database)."""

from training.text import diff_lines, diff_stats


def _read_back(old: str, new: str) -> tuple[str, str]:
    """The old and the new text, read back from their diff with all the context."""
    diff = diff_lines(old, new, context=old.count("\n") + new.count("\n") + 1)
    return (
        "\n".join(line.text for line in diff if line.kind in ("same", "removed")),
        "\n".join(line.text for line in diff if line.kind in ("same", "added")),
    )


def _document(paragraphs: int) -> list[str]:
    """Paragraphs with a blank line between them and a rule and a heading every tenth:
    most lines occur many times."""
    lines = []
    for n in range(paragraphs):
        if n % 10 == 0:
            lines += ["---", "", "## Rules", ""]
        lines += [f"Paragraph {n} of the policy.", ""]
    return lines


def test_a_long_document_with_blank_and_repeated_lines_shows_just_what_was_edited():
    old = _document(1_700)  # 4,080 lines
    new = list(old)
    edited = [i for i, line in enumerate(old) if line.startswith("Paragraph")][::10]
    for i in edited:
        new[i] = old[i].replace("of the policy", "of the new policy")
    new[100:100] = ["A new paragraph.", ""]  # after the edits before it: indexes shift
    del new[2_000:2_002]
    old_text, new_text = "\n".join(old), "\n".join(new)

    diff = diff_lines(old_text, new_text, context=0)
    assert len(edited) == 170
    assert [line.text for line in diff if line.kind == "removed" and line.text] == [
        old[i] for i in sorted([*edited, 1_998]) if old[i]
    ]
    assert [line.text for line in diff if line.kind == "added" and line.text] == [
        new[i] for i in sorted([*(i if i < 100 else i + 2 for i in edited if i < 1_998), 100])
    ] + [new[i] for i in edited if i >= 2_000]
    assert diff_stats(old_text, new_text) == (172, 172)
    assert _read_back(old_text, new_text) == (old_text.rstrip("\n"), new_text.rstrip("\n"))


def test_a_document_of_repeated_lines_only_still_diffs_to_the_new_version():
    old = [("" if n % 2 else f"- item {n % 40}") for n in range(4_000)]
    new = ["changed" if n % 13 == 0 else line for n, line in enumerate(old)]
    old_text, new_text = "\n".join(old), "\n".join(new)
    assert _read_back(old_text, new_text) == (old_text.rstrip("\n"), new_text.rstrip("\n"))
    added, removed = diff_stats(old_text, new_text)
    assert added == removed > 0


def test_the_diff_keeps_its_shape():
    diff = diff_lines("a\nb\nc\nd\ne\nf\ng", "a\nB\nc\nd\ne\nf\nG", context=1)
    assert [(line.kind, line.text) for line in diff] == [
        ("same", "a"),
        ("removed", "b"),
        ("added", "B"),
        ("same", "c"),
        ("gap", "…"),
        ("same", "f"),
        ("removed", "g"),
        ("added", "G"),
    ]
    assert diff_lines("same", "same") == []
    assert diff_lines("", "") == []
    assert [line.kind for line in diff_lines("", "one\ntwo")] == ["added", "added"]
