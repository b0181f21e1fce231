import re

from tests.factories import make_chat_event


def test_it_draws_the_per_day_chart_for_the_width_one_column_shows_it_at(client, admin):
    """Up to 900px the dashboard is one column and a phone scrolls the chart at 720px: the
    1,090px drawing shrunk to that put its labels at 10px."""
    make_chat_event()
    client.force_login(admin)

    page = client.get("/audit/dashboard/").content.decode()
    narrow = client.get("/audit/charts/requests-per-day.svg?size=narrow").content.decode()
    wide = client.get("/audit/charts/requests-per-day.svg").content.decode()

    assert re.search(
        r'<source media="\(max-width: 900px\)" srcset="/audit/charts/requests-per-day\.svg\?'
        r'[^"]*&amp;size=narrow" width="720" height="340">',
        page,
    )
    assert 'viewBox="0 0 720 340" width="720" height="340"' in narrow
    assert 'viewBox="0 0 1090 340" width="1090" height="340"' in wide


def test_each_chart_says_its_own_size(client, admin):
    """So a page can show a chart at the size it was drawn, its text at the size chosen."""
    make_chat_event(findings={"EMAIL_ADDRESS": 1})
    client.force_login(admin)

    for name, size in [("decisions", (280, 280)), ("top-backends", (440, 300)),
                       ("findings", (440, 300))]:  # fmt: skip
        svg = client.get(f"/audit/charts/{name}.svg").content.decode()
        assert f'width="{size[0]}" height="{size[1]}"' in svg.split(">", 1)[0], name


def test_the_printed_dashboard_leaves_out_the_verify_button(client, reader):
    client.force_login(reader)

    page = client.get("/audit/dashboard/").content.decode()

    form = re.search(r'<form method="post" action="/audit/verify/"[^>]*>', page)[0]
    assert "no-print" in form
