def test_it_shows_the_account_menu_like_the_other_settings_pages(client, member):
    """Password, Two-factor authentication and Email address show the "Your account" menu,
    which lists API tokens; the tokens page itself had no menu."""
    client.force_login(member)

    page = client.get("/settings/tokens/").content.decode()

    assert 'class="manage-nav"' in page and "Your account" in page
    assert '<section class="manage-body card">' in page and "<h1>API tokens</h1>" in page
    assert 'aria-current="page">API tokens</a>' in page
