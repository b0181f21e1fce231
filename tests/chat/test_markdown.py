"""chat.markdown: an answer's Markdown rendered to HTML that is safe for the page."""

import re
from html.parser import HTMLParser

import pytest
from django.utils.safestring import SafeString
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.markdown import (
    HIGHLIGHT_MAX_CHARS,
    GrowingAnswer,
    pygments_css,
    render_document,
    render_markdown,
)

BARE_TAGS = ("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s")
BARE_TAGS += ("blockquote", "ul", "li", "table", "thead", "tbody", "tr")
ALLOWED_ATTRIBUTES = {
    **dict.fromkeys(BARE_TAGS, frozenset()),
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "a": {"href", "title", "rel"},
    "span": {"class", "title"},
    "code": {"class"},
    "pre": {"class"},
}
CLASSES = {"pre": r"code", "code": r"language-\S+", "span": r"[a-z0-9]{1,3}|restored"}
SCHEMES = ("http:", "https:", "mailto:")
REL = "noopener noreferrer nofollow"

INJECTIONS = [
    '<div hx-get="/admin/" hx-trigger="load">x</div>',
    '<a href="https://a.example" hx-post="/x" onclick="alert(1)" style="color:red" id="t">x</a>',
    "<span data-hx-get=/x hx-on:click=alert(1)>x</span>",
    '[x](https://a.example "t\\" hx-get=\\"/x\\" onclick=\\"alert(1)")',
    '[x](https://a.example/" hx-get="/x" onmouseover="alert(1))',
    '<https://a.example/" onmouseover="alert(1)" hx-get="/x>',
    "# Title {#id hx-get=/x onclick=alert(1) style=color:red}",
    "[x](https://a.example){hx-get=/x .cls #id}",
    '```python" onclick="alert(1)" hx-get="/x\nprint(1)\n```',
    "```python {hx-get=/x style=color:red id=x}\nprint(1)\n```",
    '![x" onerror="alert(1)](https://evil.example/p.png)',
]
NASTY = [
    "[[[[[[[[[[x]]]]]]]]]](((((((https://a.example)))))))",
    "[a[b[c](https://a.example)](javascript:alert(1))](data:text/html,x)",
    "```python\ndef f(:\n    unclosed fence <script>alert(1)</script>",
    "~~~\n<img src=x onerror=alert(1)>\n",
    "`unclosed code <b>",
    "x" * 20_000 + " <script>alert(1)</script>",
    "Grüße, 日本語, مرحبا, 🙂‍↔️, \u202eevil\u202c, \u0000nul, \ufffd",
    "[EMAIL_1] [PERSON_2] [EMAIL_1]: [PERSON_2]\n\n[EMAIL_1]: mailto:x@y.example",
    "<javascript:alert(1)> <JaVaScRiPt:alert(1)> [x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1)) [y](javascript&colon;alert(1)) [z](\\javascript:alert(1))",
    "> > > <iframe src=https://evil.example></iframe>\n> - <svg onload=alert(1)>",
    "| a | b |\n|---|---|\n| <b onclick=x>1</b> | [x](javascript:alert(1)) |\n| unclosed",
    "*" * 500 + "_" * 500 + "[" * 500,
    "<!-- comment --><![CDATA[x]]><?php echo 1 ?><!DOCTYPE html>",
    "&lt;script&gt; &#60;script&#62; &amp;lt;script&amp;gt;",
]


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Elements:
    """The parsed ``html``."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def _assert_safe(html: str) -> None:
    """Only allow-listed tags and attributes, and links only to allowed schemes."""
    assert "<script" not in html.lower()
    for tag, attrs in _parse(html).tags:
        assert tag in ALLOWED_ATTRIBUTES, tag
        assert set(attrs) <= ALLOWED_ATTRIBUTES[tag], (tag, attrs)
        assert not any(re.match(r"on|hx-|data-|style|id", name) for name in attrs)
        if "href" in attrs:
            assert (attrs["href"] or "").lower().startswith(SCHEMES), attrs["href"]
        if tag == "a":
            assert attrs["rel"] == REL
        if "class" in attrs:
            assert re.fullmatch(CLASSES[tag], attrs["class"] or ""), (tag, attrs)


def test_it_returns_a_safe_string():
    assert isinstance(render_markdown("*hi*"), SafeString)


def test_it_renders_headings_lists_tables_and_emphasis():
    html = render_markdown(
        "# One\n\n## Two\n\n- a\n- b\n\n3. c\n4. d\n\n"
        "**bold** *em* ~~gone~~ `code`\n\n> quoted\n\n---\n\n"
        "| h1 | h2 |\n|----|----|\n| c1 | c2 |\n"
    )
    for fragment in (
        "<h1>One</h1>",
        "<h2>Two</h2>",
        "<ul>\n<li>a</li>",
        '<ol start="3">\n<li>c</li>',
        "<strong>bold</strong>",
        "<em>em</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<blockquote>\n<p>quoted</p>\n</blockquote>",
        "<hr>",
        "<th>h1</th>",
        "<td>c2</td>",
    ):
        assert fragment in html
    _assert_safe(html)


def test_it_aligns_table_cells_without_inline_styles():
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert '<th align="left">a</th>' in html
    assert '<td align="center">2</td>' in html
    assert '<td align="right">3</td>' in html
    assert "style" not in html


def test_it_escapes_a_raw_script_tag():
    html = render_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_it_escapes_a_raw_img_with_onerror():
    html = render_markdown("<img src=x onerror=alert(1)>\n\ntext <img src=x onerror=alert(1)>")
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    _assert_safe(html)


@pytest.mark.parametrize(
    "text",
    [
        "![alt](https://evil.example/p.png)",
        '![alt](https://evil.example/p.png "title")',
        "[![alt](https://evil.example/p.png)](https://example.com)",
        "![alt][ref]\n\n[ref]: https://evil.example/p.png",
        "![alt](data:image/png;base64,iVBORw0KGgo=)",
    ],
)
def test_it_renders_images_as_their_alt_text(text):
    html = render_markdown(text)
    assert "<img" not in html
    assert "src=" not in html
    assert "alt" in html
    _assert_safe(html)


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](java%0ascript:alert(1))",
        "<javascript:alert(1)>",
        "[x](vbscript:msgbox(1))",
    ],
)
def test_it_gives_no_script_url_an_href(text):
    html = render_markdown(text)
    assert not re.search(r"href=\S*(java|vb)script", html, re.IGNORECASE)
    _assert_safe(html)


def test_it_keeps_https_links_with_rel_and_no_target():
    html = render_markdown('[x](https://example.com/a?b=1&c=2 "Title") <https://example.org>')
    assert f'<a href="https://example.com/a?b=1&amp;c=2" title="Title" rel="{REL}">x</a>' in html
    assert f'<a href="https://example.org" rel="{REL}">https://example.org</a>' in html
    assert "target" not in html


def test_it_keeps_mailto_links():
    html = render_markdown("[write](mailto:dpo@example.com) or <dpo@example.com>")
    assert f'<a href="mailto:dpo@example.com" rel="{REL}">write</a>' in html
    assert f'<a href="mailto:dpo@example.com" rel="{REL}">dpo@example.com</a>' in html


@pytest.mark.parametrize(
    "text",
    [
        "[x](data:image/png;base64,iVBORw0KGgo=)",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<data:text/html,<script>alert(1)</script>>",
    ],
)
def test_it_drops_data_urls(text):
    html = render_markdown(text)
    assert "href" not in html
    _assert_safe(html)


@pytest.mark.parametrize(
    "url", ["/admin/", "../x", "#top", "?q=1", "//evil.example/x", "ftp://a.example/x"]
)
def test_it_drops_relative_and_other_scheme_links(url):
    html = render_markdown(f"[x]({url})")
    assert "href" not in html
    assert f'<a rel="{REL}">x</a>' in html


@pytest.mark.parametrize("url", ["/training/cards/", "/training/cards/2/#qcard-2-found", "#top"])
def test_a_document_keeps_links_to_pages_of_this_site(url):
    """The policy admins' document links to Steward's own pages; an answer cannot."""
    assert f'<a href="{url}" rel="{REL}">x</a>' in render_document(f"[x]({url})")
    assert "href" not in render_markdown(f"[x]({url})")


@pytest.mark.parametrize(
    "url", ["//evil.example/x", "\\\\evil.example/x", "../x", "x/y", "ftp://a.example/x"]
)
def test_a_document_drops_other_relative_and_scheme_links(url):
    """Only paths from the site's root: "//host" and "\\host" lead to another site, and where
    "../x" leads depends on the page it is read on."""
    html = render_document(f"[x]({url})")
    assert "href" not in html
    assert f'<a rel="{REL}">x</a>' in html


def test_a_document_is_as_safe_as_an_answer():
    _assert_safe(render_document("\n\n".join([*INJECTIONS, "[x](javascript:alert(1))"])))


@pytest.mark.parametrize("text", INJECTIONS)
def test_it_lets_no_htmx_event_style_or_id_attribute_through(text):
    html = render_markdown(text)
    _assert_safe(html)
    for name in ("hx-", "on", "style", "id", "data-"):
        assert not re.search(rf"<[a-z0-9]+(\s+[a-z]+=\"[^\"]*\")*\s+{name}", html), name


def test_it_highlights_a_python_fence_with_class_names():
    html = render_markdown('```python\ndef f(x):\n    return "<b>"  # hi\n```\n')
    assert html.startswith('<pre class="code"><code class="language-python">')
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">f</span>' in html
    assert '<span class="c1"># hi</span>' in html
    assert "&lt;b&gt;" in html
    assert "style" not in html
    _assert_safe(html)


def test_it_names_the_language_however_the_fence_spells_it():
    html = render_markdown("```PY title=x.py\nimport os\n```\n")
    assert '<code class="language-py">' in html
    assert '<span class="kn">import</span>' in html


@pytest.mark.parametrize("info", ["nosuchlanguage", "", '"><script>alert(1)</script>'])
def test_it_renders_other_fences_as_escaped_plain_code(info):
    html = render_markdown(f"```{info}\nx = <b>1</b>\n```\n")
    assert html == '<pre class="code"><code>x = &lt;b&gt;1&lt;/b&gt;\n</code></pre>\n'


def test_it_renders_an_indented_code_block_like_a_plain_fence():
    html = render_markdown("    x = <b>1</b>\n")
    assert html == '<pre class="code"><code>x = &lt;b&gt;1&lt;/b&gt;\n</code></pre>\n'


def test_it_escapes_html_inside_inline_code():
    html = render_markdown("Use `<b>bold</b>` here.")
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in html
    assert "<b>" not in html


def test_it_shows_an_oversized_fence_plain():
    html = render_markdown("```python\n" + "x = 1\n" * (HIGHLIGHT_MAX_CHARS // 6 + 1) + "```\n")
    assert html.startswith('<pre class="code"><code>x = 1\n')
    assert "<span" not in html


def test_it_builds_pygments_css_scoped_to_the_answer():
    css = pygments_css()
    assert ".md .code { background:" in css
    assert ".md .code .k {" in css
    rules = [line for line in css.splitlines() if "{" in line]
    assert rules and all(line.startswith(".md .code") for line in rules)


@pytest.mark.parametrize(
    "text",
    [
        "[EMAIL_1]",
        "Write to [EMAIL_1] today.",
        "[EMAIL_1] and [PERSON_2] met at [ORG_3].",
        "[EMAIL_1][PERSON_2]",
        "[PERSON_2]: Manager",
        "[EMAIL_1]: [PERSON_2]",
        "[PERSON_1] [EMAIL_1] (the address above)",
        "[[EMAIL_1]]",
        "*[PERSON_2]* wrote to **[EMAIL_1]**",
    ],
)
def test_it_keeps_placeholders_as_literal_text(text):
    html = render_markdown(text)
    assert "<a" not in html
    assert "".join(_parse(html).text).strip() == text.replace("*", "")


@pytest.mark.parametrize("text", NASTY)
def test_it_renders_nasty_input_safely(text):
    html = render_markdown(text)
    _assert_safe(html)
    if "[EMAIL_1]" in text:
        assert "[EMAIL_1]" in html


PIECES = [
    *INJECTIONS,
    *("[", "]", "(", ")", "<", ">", "`", "```", "~~~", "*", "_", "!", "|", "\\", "&", ":"),
    *("javascript:alert(1)", "data:text/html,x", "https://a.example", "mailto:a@b.example"),
    *("[EMAIL_1]", "<script>", "hx-get=/x", "onclick=x", "# ", "- ", "1. ", "> ", "    "),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=20),
    st.sampled_from(["", " ", "\n", "\n\n"]),
)
def test_it_keeps_any_mix_of_syntax_and_payloads_safe(pieces, separator):
    _assert_safe(render_markdown(separator.join(pieces)))


# --- an answer as it streams ---------------------------------------------------------------

STREAMED = """# Plan

Here is what to do, step by step:

1. Open the invoice of [EMAIL_1].
2. Check the total.
   It should be 1,200 EUR.

```python
def total(lines):

    return sum(line.amount for line in lines)
print(total([]))
```

| item | price |
| ---- | ----: |
| tea  | 2     |

> A quote
> on two lines.

~~~
no fence inside ```
~~~

Done. **Thanks** for asking.
"""


def _streamed(text: str, sizes, values=None) -> tuple[str, list[str]]:
    """``text`` fed chunk by chunk of ``sizes`` (cycled): the last HTML, and every one."""
    answer = GrowingAnswer(values)
    seen, at, index = [], 0, 0
    while at < len(text):
        at += sizes[index % len(sizes)]
        index += 1
        seen.append(answer.html(text[:at]))
    return seen[-1], seen


@pytest.mark.parametrize("sizes", [(1,), (3, 7, 2), (40,), (len(STREAMED),)])
def test_a_growing_answer_ends_as_the_whole_answer_renders(sizes):
    """Its settled blocks rendered once, whatever the chunks: the same HTML at the end
    (top-level blocks; fenced code with a blank line and an unindented line inside)."""
    last, _ = _streamed(STREAMED, sizes)
    assert last == render_markdown(STREAMED)


def test_each_step_of_a_growing_answer_renders_as_its_text_so_far_does():
    _, seen = _streamed(STREAMED, (5,))
    for index, html in enumerate(seen):
        assert html == render_markdown(STREAMED[: (index + 1) * 5]), index


def test_a_growing_answer_renders_only_its_last_blocks_again(monkeypatch):
    from chat import markdown

    rendered = []
    real = markdown.render_markdown
    monkeypatch.setattr(
        markdown, "render_markdown", lambda t, values: rendered.append(t) or real(t, values)
    )
    paragraphs = "".join(f"Paragraph {n} of a long answer.\n\n" for n in range(200))
    _streamed(paragraphs, (10,))
    # Every paragraph once as settled, and the unsettled last one at each chunk (~50
    # characters): the whole answer at every chunk would be ~2,100,000 characters.
    assert sum(len(text) for text in rendered) < 10 * len(paragraphs)


def test_a_growing_answer_restores_placeholders_and_begins_again_after_a_take_over():
    answer = GrowingAnswer({"[EMAIL_1]": "jane@example.org"})
    answer.html("Mail [EMAIL_1] today.\n\nThen call.\n")
    assert "jane@example.org" in answer.html("Mail [EMAIL_1] today.\n\nThen call.\n\nBye")
    again = answer.html("Started over.")  # a worker took the answer over from the start
    assert again == render_markdown("Started over.")


def test_a_loose_list_shows_its_items_apart_while_it_streams_and_whole_at_the_end():
    text = "- one\n\n- two\n\nAfter."
    last, _ = _streamed(text, (2,))
    assert last.count("<ul>") == 2  # each item its own list until the answer is stored
    assert _plain(last) == _plain(render_markdown(text))


def test_a_growing_answer_is_sanitised_like_a_whole_one():
    text = "".join(f"{injection}\n\n" for injection in INJECTIONS)
    _, seen = _streamed(text, (7,))
    for html in seen:
        _assert_safe(html)


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
