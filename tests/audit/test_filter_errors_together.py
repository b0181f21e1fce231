"""The filters' mistakes are said together: backwards dates hid a mistyped email."""

from tests.asked_here import asked


def test_it_says_every_mistake_at_once(client, reader):
    client.force_login(reader)
    response = client.get("/audit/?since=2026-12-05&until=2026-12-01&actor=nobody@example.com")
    page = response.content.decode()
    assert response.status_code == 422
    assert "The start date is after the end date." in page
    assert "No account has this email address." in page


def test_the_export_says_them_together_too(client, reader):
    client.force_login(reader)
    response = client.get(
        asked(
            client, "/audit/export/csv/?since=2026-12-05&until=2026-12-01&actor=nobody@example.com"
        )
    )
    text = response.content.decode()
    assert response.status_code == 400
    assert "The start date is after the end date." in text
    assert "Actor email: No account has this email address." in text
