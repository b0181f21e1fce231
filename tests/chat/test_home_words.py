"""The chat home's first words, for someone with no conversation yet."""


def test_it_says_what_administrators_see_in_plain_words(client, member):
    client.force_login(member)
    page = client.get("/chat/").content.decode()
    assert "No conversations yet" in page
    assert "metadata" not in page
    assert (
        "Administrators see who wrote when, to which model, and what kind of information "
        "Steward found, never the text" in page
    )
