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

from collections.abc import Sequence
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
