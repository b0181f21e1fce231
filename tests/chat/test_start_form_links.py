"""Each category's "What belongs here?" link names its category to a screen reader: a list
of links read four identical "What belongs here?" (a review found it)."""

import re

from django.urls import reverse


def test_each_what_belongs_here_link_names_its_category(client, org):
    client.force_login(org.alice)  # 1 and 2 to choose, 3 and 4 closed to her
    page = client.get(reverse("chat:home")).content.decode()
    links = re.findall(r'What belongs here\?<span class="visually-hidden"> \(([^)]*)\)', page)
    assert links == ["Public", "Internal", "Confidential / personal data", "Prohibited"]
    assert "What belongs here?</a>" not in page
