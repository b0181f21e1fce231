"""A model's answer (untrusted Markdown) turned into HTML that is safe to put on the chat page.

Two layers, each enough on its own for the common attacks:

1. markdown-it renders CommonMark plus tables and strikethrough with raw HTML off, so
   ``<script>`` or ``<div hx-get=…>`` in an answer comes out as text. Fenced code is
   highlighted by Pygments into spans with its short class names, never inline styles
   (the Content-Security-Policy allows no ``style=``).
2. nh3 cleans the result against an allow-list: a few tags, a few attributes, classes only
   from Pygments and ``language-*``, links only to http, https and mailto (and, in a
   policy admin's document, :func:`render_document`, to paths on this site too).

Images are rendered as their alt text: a remote image would tell a third party who is
reading the answer, and when. Link reference definitions are off, because the app puts
placeholders such as ``[EMAIL_1]`` in answers and a line ``[PERSON_2]: Manager`` would
otherwise vanish into a definition.

The author's values go back in place of those placeholders after parsing, in text and
code only (``values``): never in a link's address or title, nor in an autolink, whose
text is its address, so a model cannot make a link that carries a value to a third
party. Nor inside a word that would read as a web or e-mail address with the value in it
(``https://x.example/?q=[EMAIL_1]``): a reader may copy it, and other Markdown viewers
link bare addresses (:func:`restore_markdown`, for exports).

The caller wraps the result in ``<div class="md">``; :func:`pygments_css` gives the
matching colours, scoped to ``.md .code``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import find_lexer_class_by_name, get_all_lexers
from pygments.token import STANDARD_TYPES

from chat.pseudonyms import PLACEHOLDER

PYGMENTS_STYLE = "default"
# Answers are re-rendered on every streamed chunk; past this a block is shown plain, so a
# huge or pathological block cannot hold up the stream in a lexer's regular expressions.
HIGHLIGHT_MAX_CHARS = 20_000

# Only built-in lexers: looking up an unknown name would otherwise scan the installed
# packages' entry points for plugins on every fence.
_LEXER_ALIASES = frozenset(
    alias for _, aliases, _, _ in get_all_lexers(plugins=False) for alias in aliases
)
_FORMATTER = HtmlFormatter(nowrap=True)
_CELL_ALIGNMENTS = frozenset({"left", "center", "right"})


@cache
def _lexer_class(alias: str) -> type[Lexer]:
    """The lexer class for a known alias; the lookup is a linear scan, so it is kept."""
    return find_lexer_class_by_name(alias)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fence's whole ``<pre>``: Pygments spans when its info string names a lexer."""
    alias = lang.lower()
    if alias in _LEXER_ALIASES and len(code) <= HIGHLIGHT_MAX_CHARS:
        # A fresh instance per block: cheap, and no lexer state is shared between threads.
        body = highlight(code, _lexer_class(alias)(stripnl=False), _FORMATTER)
        return f'<pre class="code"><code class="language-{alias}">{body}</code></pre>'
    return f'<pre class="code"><code>{escapeHtml(code)}</code></pre>'


def _render_code_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An indented code block, in the same shell as an unhighlighted fence."""
    return f'<pre class="code"><code>{escapeHtml(tokens[idx].content)}</code></pre>\n'


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image as its alt text, so nothing is fetched from the answer's URLs."""
    return escapeHtml(self.renderInlineAsText(tokens[idx].children or [], options, env))


def _render_cell_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A table cell aligned by ``align=`` instead of markdown-it's ``style=``."""
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if isinstance(style, str):
        token.attrSet("align", style.removeprefix("text-align:"))
    return self.renderToken(tokens, idx, options, env)


#: Values are put back word by word (a word: a run of non-space characters).
_SPACES = re.compile(r"(\s+)")
#: What makes a word part of a web or e-mail address.
_ADDRESS = re.compile(r"://|www\.|@|\.[^\W\d_]", re.IGNORECASE)


def _restore(text: str, values: Mapping[str, str], restored: set[str] | None) -> str:
    """``text`` (a text node's, or code's) with its placeholders' values put back, except in
    a word that would read as an address (``restored`` collects the placeholders put back)."""
    if "[" not in text:
        return text
    return "".join(piece for piece, _ in _pieces(text, values, restored))


def _pieces(
    text: str, values: Mapping[str, str], restored: set[str] | None
) -> list[tuple[str, str]]:
    """``text`` cut into pieces as written (``(text, "")``) and values put back
    (``(value, placeholder)``)."""
    # Split, rather than a regular expression around each placeholder: on a long run of
    # non-space characters, that one's backtracking would take quadratic time.
    pieces: list[tuple[str, str]] = []
    plain: list[str] = []  # what is written since the last value
    for word in _SPACES.split(text):
        known = _restorable(word, values) if "[" in word else []
        at = 0
        for match in known:
            plain.append(word[at : match.start()])
            pieces += [("".join(plain), ""), (values[match[0]], match[0])]
            plain, at = [], match.end()
        plain.append(word[at:])
        if restored is not None:
            restored.update(m[0] for m in known)
    pieces.append(("".join(plain), ""))
    return pieces


def _restorable(word: str, values: Mapping[str, str]) -> list[re.Match[str]]:
    """The placeholders of ``word`` that have a value, if the values may go back in it."""
    known = [m for m in PLACEHOLDER.finditer(word) if m[0] in values]
    if not known:
        return []
    # One value (an e-mail address itself has an "@"): what surrounds it must not make an
    # address of it. Several: they must not make one together, e.g. a URL the author
    # pasted followed by an address.
    if len(known) == 1:
        around = word[: known[0].start()] + word[known[0].end() :]
    else:
        around = PLACEHOLDER.sub(lambda m: values.get(m[0], m[0]), word)
    # After a "<" not yet closed, the value back would make an autolink
    # ("<jane@example.org>") of the export that another Markdown viewer renders.
    before = word[: known[0].start()]
    opens_autolink = "<" in before and ">" not in before[before.rfind("<") :]
    if _ADDRESS.search(around) or opens_autolink:
        return []
    return known


def _restore_values(state: StateCore) -> None:
    """Core rule, after parsing: the values of ``env["values"]`` put back in text and code."""
    values = state.env.get("values")
    if not values:
        return
    restored = state.env.get("restored")
    for token in state.tokens:
        if token.type == "inline" and token.children:
            token.children = _restore_inline(token.children, values, restored)
        elif token.type in ("fence", "code_block"):
            token.content = _restore(token.content, values, restored)


def _restore_inline(
    tokens: list[Token],
    values: Mapping[str, str],
    restored: set[str] | None,
    *,
    marked: bool = True,
) -> list[Token]:
    """``tokens`` with the values back; in a text node each value is ``marked`` as one
    (:func:`_marked`), but not in code nor in an image's alt text, which show plain text."""
    in_autolink = False  # its text is its address
    out: list[Token] = []
    for token in tokens:
        if token.type == "link_open":
            in_autolink = token.info == "auto"
        elif token.type == "link_close":
            in_autolink = False
        elif token.type == "text" and marked and not in_autolink and "[" in token.content:
            out += _marked(_pieces(token.content, values, restored))
            continue
        elif token.type in ("text", "code_inline") and not in_autolink:
            token.content = _restore(token.content, values, restored)
        elif token.type == "image" and token.children:  # shown as its alt text
            token.children = _restore_inline(token.children, values, restored, marked=False)
        out.append(token)
    return out


def _marked(pieces: list[tuple[str, str]]) -> list[Token]:
    """Text tokens for the pieces as written, and for each value put back a span that says
    so: the reader tells the values Steward put back from brackets the model wrote itself."""
    tokens = []
    for text, placeholder in pieces:
        if not placeholder:
            if text:
                tokens.append(Token("text", "", 0, content=text))
            continue
        title = f"Your value, put back by Steward: the model saw {placeholder}"
        tokens.append(
            Token(
                "html_inline",
                "",
                0,
                content=f'<span class="restored" title="{escapeHtml(title)}">'
                f"{escapeHtml(text)}</span>",
            )
        )
    return tokens


_MD = (
    MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    .enable(["table", "strikethrough"])
    # With "html" off these rules only bail out; gone, no later option can bring raw HTML back.
    .disable(["html_block", "html_inline", "reference"])
)
_MD.core.ruler.push("restore_values", _restore_values)
_MD.add_render_rule("code_block", _render_code_block)
_MD.add_render_rule("image", _render_image)
_MD.add_render_rule("th_open", _render_cell_open)
_MD.add_render_rule("td_open", _render_cell_open)

#: A path on this site ("/training/cards/") or a place on the page ("#rules"). Not "//host"
#: nor "/\host": browsers read both as another site's address.
_SITE_PATH = re.compile(r"/(?![/\\])[^\s\\]*|#[^\s\\]*")


def _same_site_only(url: str) -> str | None:
    return url if _SITE_PATH.fullmatch(url) else None


def _cleaner(url_relative: str | Callable[[str], str | None]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags={
            *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6"),
            *("strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li"),
            *("table", "thead", "tbody", "tr", "th", "td", "a", "span"),
        },
        # "*" must be given, or nh3 keeps its default generic attributes (lang, title).
        attributes={"*": set(), "a": {"href", "title"}, "ol": {"start"}, "span": {"title"}},
        tag_attribute_values={"th": {"align": _CELL_ALIGNMENTS}, "td": {"align": _CELL_ALIGNMENTS}},
        allowed_classes={
            "span": {"restored", *(name for name in STANDARD_TYPES.values() if name)},
            "code": {f"language-{alias}" for alias in _LEXER_ALIASES},
            "pre": {"code"},
        },
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        url_relative=url_relative,
    )


_CLEANER = _cleaner("deny")
_DOCUMENT_CLEANER = _cleaner(_same_site_only)


def render_markdown(text: str, values: Mapping[str, str] | None = None) -> SafeString:
    """Render an answer's Markdown to sanitised HTML, ready for a template as it is;
    ``values`` (placeholder -> the author's value) are put back in its text."""
    return mark_safe(_CLEANER.clean(_MD.render(text, {"values": values} if values else None)))


def render_document(text: str) -> SafeString:
    """Render a document policy admins wrote (the policy) as :func:`render_markdown` renders
    an answer, but keeping links to Steward's own pages: its authors are trusted to link
    within the site, a model is not."""
    return mark_safe(_DOCUMENT_CLEANER.clean(_MD.render(text)))


def restore_markdown(text: str, values: Mapping[str, str]) -> str:
    """``text`` (an answer's Markdown) with a value back for each placeholder that
    :func:`render_markdown` shows as text, and the others left as written: for exports.

    Each placeholder is first swapped for a probe of its own (numbered, under a label
    nobody can guess or write by other means, such as an entity), so that parsing the
    text tells which placeholders end up as text.
    """
    found = list(PLACEHOLDER.finditer(text))
    if not any(m[0] in values for m in found):
        return text
    label = "".join(secrets.choice(string.ascii_uppercase) for _ in range(16))
    probes = [f"[{label}_{n}]" for n in range(len(found))]
    numbered = iter(probes)
    probed = PLACEHOLDER.sub(lambda _: next(numbered), text)
    env = {
        "values": {probe: values[m[0]] for probe, m in zip(probes, found) if m[0] in values},
        "restored": set(),
    }
    _MD.parse(probed, env)
    parts, at = [], 0
    for probe, m in zip(probes, found, strict=True):
        parts += [text[at : m.start()], values[m[0]] if probe in env["restored"] else m[0]]
        at = m.end()
    parts.append(text[at:])
    return "".join(parts)


#: A fence's opening or closing line: up to three spaces, then three or more ` or ~.
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


class GrowingAnswer:
    """The HTML of an answer that grows as it streams, its settled blocks rendered once.

    Rendering the whole answer at every chunk cost ~1.2 ms per KB (markdown-it is pure
    Python): an 8 KB answer, re-rendered 12 times a second, took an eighth of a core
    for one reader. Here the answer is cut where a top-level block begins after a blank
    line, outside fenced code: what comes before can no longer change, and is rendered
    once and kept; only the blocks after the last cut are rendered again. A block that a
    later one would have joined (a loose list's next item) shows as a block of its own
    until the answer ends, when the page shows the stored answer rendered whole.

    ``values`` (placeholder -> the author's value) are put back in the text as
    :func:`render_markdown` does (no placeholder spans a blank line, so each part is
    restored on its own).
    """

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = values
        self._begin()

    def _begin(self) -> None:
        self._text = ""
        self._settled = 0  # where the unsettled blocks begin
        self._settled_html = ""
        self._scanned = 0  # where the next line to look at begins
        self._fence = ""  # the open fence's marker, if inside fenced code
        self._after_blank = False

    def html(self, text: str) -> SafeString:
        """The answer so far (``text``: all of it, each time), rendered and sanitised."""
        if not text.startswith(self._text[: self._scanned]):
            self._begin()  # the answer began again (a take-over)
        self._text = text
        cut = self._last_cut()
        if cut > self._settled:
            self._settled_html += render_markdown(text[self._settled : cut], self._values)
            self._settled = cut
        rest = text[self._settled :]
        return mark_safe(
            self._settled_html + (render_markdown(rest, self._values) if rest.strip() else "")
        )

    def _last_cut(self) -> int:
        """Where the last top-level block begins in the lines not yet looked at (or where
        the unsettled blocks begin, if none does)."""
        text, start, cut = self._text, self._scanned, self._settled
        while (end := text.find("\n", start)) >= 0:
            line = text[start:end]
            if self._fence:
                closing = _FENCE.match(line)
                if (
                    closing
                    and closing[1][0] == self._fence[0]
                    and len(closing[1]) >= len(self._fence)
                    and not closing[2].strip()
                ):
                    self._fence = ""
            else:
                if self._after_blank and line[:1] not in ("", " ", "\t"):
                    cut = start  # a top-level block begins: everything before is settled
                opening = _FENCE.match(line)
                if opening and not (opening[1][0] == "`" and "`" in opening[2]):
                    self._fence = opening[1]
            self._after_blank = not line.strip()
            start = end + 1
        self._scanned = start
        return cut


def pygments_css() -> str:
    """Light-theme rules for highlighted code, every one scoped under ``.md .code``.

    Not ``get_style_defs()``: it also emits unscoped rules (``pre { line-height }`` and
    the line-number classes) that would restyle every ``<pre>`` on the site.
    """
    formatter = HtmlFormatter(style=PYGMENTS_STYLE)
    lines = [
        *formatter.get_background_style_defs(".md .code"),
        *formatter.get_token_style_defs(".md .code"),
    ]
    return "\n".join(lines) + "\n"
