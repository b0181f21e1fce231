"""Every form of every page, as each persona: sent as the page renders it, then with one
field at a time holding junk; whatever the answer, never a 500.

The pages come from tests/test_access.py's matrix, so a new page's forms are covered once
it is in the matrix (which it must be)."""

from html.parser import HTMLParser

import pytest

from tests.test_access import MATRIX, USER_ID, personas  # noqa: F401  (the fixture)

JUNK = ["\x00", "A" * 5000, "-1", "9" * 40, "١٢٣", "2026-02-30", " "]


class _Forms(HTMLParser):
    """The POST forms of a page: (action or None, {field: [values]}) as a browser would send
    them untouched (checked boxes only, a select's selected or first option)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str | None, dict[str, list[str]]]] = []
        self._form: dict[str, list[str]] | None = None
        self._text: tuple[str, list[str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._form = {}
            self.forms.append((a.get("action"), self._form))
        if self._form is None or not a.get("name") or a["name"] == "csrfmiddlewaretoken":
            return
        name, kind = a["name"], (a.get("type") or "text").lower()
        if tag == "input" and kind == "file":
            return
        if tag == "input" and kind in ("checkbox", "radio"):
            if "checked" in a:
                self._form.setdefault(name, []).append(a.get("value") or "on")
        elif tag == "input":
            self._form.setdefault(name, []).append(a.get("value") or "1")
        elif tag == "textarea":
            self._text = (name, [])
        elif tag == "select":
            self._select = name
        if tag == "option" and self._select:
            chosen = self._form.setdefault(self._select, [])
            if "selected" in a or not chosen:
                chosen[:] = [a.get("value", "")]

    def handle_data(self, data):
        if self._text is not None:
            self._text[1].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._text is not None and self._form is not None:
            name, parts = self._text
            self._form[name] = ["".join(parts) or "text"]
            self._text = None
        elif tag == "select":
            self._select = None


def _forms_of(html: str):
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@pytest.mark.parametrize("persona", ["staff", "admin", "privacy", "auditor"])
def test_no_form_answers_junk_with_a_500(client, personas, persona):  # noqa: F811
    client.raise_request_exception = False
    user = personas[persona]
    client.force_login(user)
    staff_id = str(personas["staff"].public_id)
    failures, sent = [], 0
    for path, _ in MATRIX.values():
        path = path.replace(USER_ID, staff_id)
        if path.startswith("/accounts/"):
            continue
        page = client.get(path)
        if page.status_code != 200 or "text/html" not in page["Content-Type"]:
            continue
        for action, fields in _forms_of(page.content.decode()):
            target = action or path
            if "logout" in target:
                continue
            for name in fields:
                for junk in JUNK:
                    response = client.post(target, {**fields, name: [junk]}, HTTP_HX_REQUEST="true")
                    sent += 1
                    if response.status_code >= 500:
                        failures.append(f"{target} {name}={junk[:12]!r}: {response.status_code}")
                    client.force_login(user)  # a form may have signed out or changed roles
    assert sent > 20
    assert failures == []
