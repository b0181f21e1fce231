"""The history card names each changed setting as the page that edits it does, not as it is
stored ("is active", "term count", "retention days" were shown)."""

import re

from governance.models import ProtectedTermList
from governance.services import save_category, set_category_active
from tests.factories import make_category

ROW_NAME = re.compile(r'<tr><th scope="row">([^<]*)</th>')


def _history_rows(page: str) -> list[str]:
    return ROW_NAME.findall(page[page.index('<section id="history"') :])


def test_a_categorys_history_uses_the_forms_words(client, admin):
    category = make_category(number=2, slug="internal", name="Internal", retention_days=30)
    save_category(category=category, values={"retention_days": 60}, actor=admin)
    set_category_active(category=category, active=False, actor=admin)
    client.force_login(admin)
    rows = _history_rows(client.get("/policy/categories/internal/").content.decode())
    assert "Keep conversations for (days)" in rows and "In use (not retired)" in rows
    assert not [row for row in rows if "_" in row or row[:1].islower()]


def test_a_term_lists_history_uses_words_a_person_reads(client, admin):
    client.force_login(admin)
    client.post("/policy/term-lists/new/", {"name": "Clients", "kind": "client", "pasted": "Ann"})
    term_list = ProtectedTermList.objects.get()
    rows = _history_rows(client.get(f"/policy/term-lists/{term_list.public_id}/").content.decode())
    assert {"Name", "Number of terms", "Switched on", "Terms replaced"} <= set(rows)
    assert "term count" not in rows and "is active" not in rows
