"""A model's answer (untrusted Markdown) turned into HTML that is safe to put on the chat page.

Two layers, each enough on its own for the common attacks:

1. markdown-it renders CommonMark plus tables and strikethrough with raw HTML off, so
   ``<script>`` or ``<div hx-get=…>`` in an answer comes out as text. Fenced code is
   highlighted by Pygments into spans with its short class names, never inline styles
   (the Content-Security-Policy allows no ``style=``).
2. nh3 cleans the result against an allow-list: a few tags, a few attributes, classes only
   from Pygments and ``language-*``, links only to http, https and mailto.

Images are rendered as their alt text: a remote image would tell a third party who is
reading the answer, and when. Link reference definitions are off, because the app puts
placeholders such as ``[EMAIL_1]`` in answers and a line ``[PERSON_2]: Manager`` would
otherwise vanish into a definition.

The caller wraps the result in ``<div class="md">``; :func:`pygments_css` gives the
matching colours, scoped to ``.md .code``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import find_lexer_class_by_name, get_all_lexers
from pygments.token import STANDARD_TYPES

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


_MD = (
    MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    .enable(["table", "strikethrough"])
    # With "html" off these rules only bail out; gone, no later option can bring raw HTML back.
    .disable(["html_block", "html_inline", "reference"])
)
_MD.add_render_rule("code_block", _render_code_block)
_MD.add_render_rule("image", _render_image)
_MD.add_render_rule("th_open", _render_cell_open)
_MD.add_render_rule("td_open", _render_cell_open)

_CLEANER = nh3.Cleaner(
    tags={
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li"),
        *("table", "thead", "tbody", "tr", "th", "td", "a", "span"),
    },
    # "*" must be given, or nh3 keeps its default generic attributes (lang, title).
    attributes={"*": set(), "a": {"href", "title"}, "ol": {"start"}},
    tag_attribute_values={"th": {"align": _CELL_ALIGNMENTS}, "td": {"align": _CELL_ALIGNMENTS}},
    allowed_classes={
        "span": {name for name in STANDARD_TYPES.values() if name},
        "code": {f"language-{alias}" for alias in _LEXER_ALIASES},
        "pre": {"code"},
    },
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
)


def render_markdown(text: str) -> SafeString:
    """Render an answer's Markdown to sanitised HTML, ready for a template as it is."""
    return mark_safe(_CLEANER.clean(_MD.render(text)))


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

    ``restore`` puts the author's values back in place of placeholders (none spans a
    blank line, so each part is restored on its own).
    """

    def __init__(self, restore: Callable[[str], str] = str) -> None:
        self._restore = restore
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
            self._settled_html += render_markdown(self._restore(text[self._settled : cut]))
            self._settled = cut
        rest = text[self._settled :]
        return mark_safe(
            self._settled_html + (render_markdown(self._restore(rest)) if rest.strip() else "")
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
