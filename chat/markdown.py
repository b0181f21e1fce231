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
link bare addresses.

Markdown that leaves Steward with its values back (the exports, :func:`restore_markdown`;
the API, :func:`restore_outside_links` and :class:`OutsideLinksRestorer` as it streams)
is rendered by others, raw HTML and reference definitions included: there a value stays
a placeholder wherever some renderer could read an address (:class:`_AddressScanner`).

The caller wraps the result in ``<div class="md">``; :func:`pygments_css` gives the
matching colours, scoped to ``.md .code``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from html import unescape as unescape_html

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


#: Values are put back word by word (a word: a run of non-space characters). Only ASCII
#: spaces end one: GitHub's autolinks run on past a no-break space.
_SPACES = re.compile(r"([ \t\n\r\f\v]+)")
#: What makes a word part of a web or e-mail address (with the dots that hostnames take
#: for one: a browser reads "evil。example" as "evil.example").
_ADDRESS = re.compile(r"//|www[.。．｡]|@|[.。．｡][^\W\d_]", re.IGNORECASE)
#: A backslash escape, which a renderer reads as the character escaped.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


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
    # As a renderer reads it: "https&#58;//" and "evil\.example" are addresses too.
    if _ADDRESS.search(unescape_html(_ESCAPED.sub(r"\1", around))) or opens_autolink:
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
    :func:`render_markdown` shows as text, and that no other renderer reads as part of an
    address (:func:`restore_outside_links`); the others left as written: for exports.

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
    outside_links: set[str] = set()
    restorer = OutsideLinksRestorer(env["values"], restored=outside_links)
    restorer.feed(probed)
    restorer.flush()
    parts, at = [], 0
    for probe, m in zip(probes, found, strict=True):
        back = probe in env["restored"] and probe in outside_links
        parts += [text[at : m.start()], values[m[0]] if back else m[0]]
        at = m.end()
    parts.append(text[at:])
    return "".join(parts)


def restore_outside_links(text: str, values: Mapping[str, str]) -> str:
    """``text`` (a model's Markdown) with a value back for each placeholder that no renderer
    reads as part of an address; the others left as written: for the API, whose clients
    render the answer themselves (:class:`OutsideLinksRestorer`, all at once)."""
    if not any(m[0] in values for m in PLACEHOLDER.finditer(text)):
        return text
    restorer = OutsideLinksRestorer(values)
    return restorer.feed(text) + restorer.flush()


#: A line of raw HTML that ends whatever HTML a text left open, as a browser reads it: a
#: tag, from any of its parts (here ``<div`` is a value, or a name, or in a quoted value
#: that ``"`` or ``'`` ends; then ``>`` ends the tag), a style sheet or a script. After
#: none of them, an empty ``<div>``.
HTML_CLOSER = "<div \"'></div></style></script>"


def leaves_html_open(text: str) -> bool:
    """Whether some renderer reads ``text`` (Markdown) as ending inside an HTML tag, a
    style sheet or a script: what follows it in the same document would be read into it
    (in an export, the next turn, the author's values included: :data:`HTML_CLOSER`)."""
    return _AddressScanner().leaves_html_open(text)


#: The end of a piece of an answer that could still become a placeholder.
_UNFINISHED = re.compile(r"\[[A-Z]*(?:_\d{0,5})?\Z")
#: Longer than any placeholder's label (``[REDACTED_12345]``) with room to spare.
_LONGEST_PLACEHOLDER = 40
#: A space that ends a word (:data:`_SPACES`).
_SPACE = re.compile(r"[ \t\n\r\f\v]")
#: Where a link's text ends and its destination begins.
_LINK_TEXT_ENDS = re.compile(r"\]\(")
#: In a value: what would make an address of the text after it (a rule's match of HTML).
_OPENS_AN_ADDRESS = re.compile(r"<[A-Za-z!/?]|\]\(|\]:")


class OutsideLinksRestorer:
    """Puts values back in a model's Markdown as it arrives in pieces, where no renderer
    reads them as part of an address: elsewhere the placeholder stays.

    Text is given out as it comes, but for a placeholder that has a value: it waits for
    the end of its word (the next space), which may yet make an address of it
    (``[EMAIL_1].evil.example``), or for the rest of it, cut between two pieces
    (``[EMAIL`` then ``_1]``). What comes before a placeholder decides the rest
    (:class:`_AddressScanner`). ``restored`` collects the placeholders put back.
    """

    def __init__(self, values: Mapping[str, str], restored: set[str] | None = None) -> None:
        self._values = values
        self._restored = restored
        self._text = ""  # the answer so far
        self._given = 0  # how much of it has been given out
        self._no_space_from = 0  # where the word of the placeholder held back reads on
        self._scanner = _AddressScanner()

    def feed(self, text: str) -> str:
        """What of the answer can be given out now that ``text`` has come."""
        self._text += text
        return self._give(finished=False)

    def flush(self) -> str:
        """The rest of the answer, now that it has all come."""
        return self._give(finished=True)

    def _give(self, *, finished: bool) -> str:
        text, out = self._text, []
        end = len(text)
        # Only the last characters can be the beginning of a placeholder that goes on.
        tail = max(self._given, end - _LONGEST_PLACEHOLDER)
        if not finished and (unfinished := _UNFINISHED.search(text, tail)):
            end = unfinished.start()
        for match in PLACEHOLDER.finditer(text, self._given, end):
            if match.start() < self._given or match[0] not in self._values:
                continue  # in a word already given out, or nothing to put back
            space = _SPACE.search(text, max(match.end(), self._no_space_from))
            if space is None and not finished:
                end, self._no_space_from = match.start(), len(text)  # its word may go on
                break
            word_end = space.start() if space else len(text)
            out += [text[self._given : match.start()], self._word(match.start(), word_end)]
            self._given = word_end
        out.append(text[self._given : max(end, self._given)])
        self._given = max(end, self._given)
        return "".join(out)

    def _word(self, start: int, end: int) -> str:
        """The word ending at ``end`` from ``start`` (a placeholder's) on, with the values
        back that may go back.

        A link's text ends its word (``[Write to [EMAIL_1]](mailto:…)``): what follows
        ``](`` is the link's destination, which the scanner reads.
        """
        text = self._text
        word_start = 1 + max(text.rfind(space, 0, start) for space in " \t\n\r\f\v")
        cuts = [m.start() + 1 for m in _LINK_TEXT_ENDS.finditer(text, word_start, end)]
        allowed = set()
        for part_start, part_end in zip([word_start, *cuts], [*cuts, end], strict=True):
            part = text[part_start:part_end]
            allowed |= {part_start + m.start() for m in _restorable(part, self._values)}
        pieces, at = [], start
        for match in PLACEHOLDER.finditer(text, start, end):
            value = self._values.get(match[0])
            if (
                value is None
                or match.start() not in allowed
                or _OPENS_AN_ADDRESS.search(value)
                or self._scanner.in_address(text, match.start())
            ):
                continue
            pieces += [text[at : match.start()], value]
            at = match.end()
            if self._restored is not None:
                self._restored.add(match[0])
        pieces.append(text[at:end])
        return "".join(pieces)


#: What HTML reads as the space between a tag's parts.
_HTML_SPACES = frozenset(" \t\n\r\f")
#: Where a way of reading an address may begin: a link's destination, a reference
#: definition's, a tag, or a code fence's info string (its first word becomes a class).
_ADDRESS_BEGINS = re.compile(r"\]\(|\]:|<[A-Za-z]|```|~~~")
#: Elements whose text is code (CSS, a script): an address there is none of Markdown's.
_CODE_ELEMENTS = ("style", "script")
#: Parentheses nested deeper than this keep a link's destination open to the paragraph's end.
_DEEPEST = 16


class _AddressScanner:
    """Reads a model's Markdown from its start, and tells whether a place in it may be part
    of an address as some renderer reads it: a link's or an image's destination (from
    ``](`` to its closing parenthesis, ``<…>`` included), a reference definition's (after
    ``]:``), an HTML tag (its attributes: ``src``, ``href``, ``style``…), a style sheet or
    a script.

    Renderers differ (a tag that markdown-it leaves as text is a tag to a laxer one), so
    the reading is conservative: a tag begins at every ``<`` followed by a letter, in code
    too, and is read as a browser reads it. Each way of reading that may be open at a place
    is a state in a set, and the place is in an address while any is.

    A quoted attribute value still open at a line's end may run on for good: a block of
    raw HTML ends at a blank line and its value does not, so a browser reads the next
    paragraph into it (the quotes written there come out as ``&quot;``). Nothing after
    such a line is taken for text.
    """

    def __init__(self) -> None:
        self._at = 0  # how far the text has been read
        self._states: set[tuple] = set()
        self._code = ""  # the element whose code is being read ("style"), if any
        self._run_on = False  # a quoted attribute value went on past a line's end
        self._line_has_text = False

    def in_address(self, text: str, position: int) -> bool:
        """Whether ``position`` of ``text`` may be in an address (only what comes before
        it is read: the text may be all there is so far)."""
        self._read(text, position)
        return self._run_on or bool(self._code or self._states)

    def leaves_html_open(self, text: str) -> bool:
        """Whether ``text``, read to its end, ends inside a tag, a style sheet or a script."""
        self._read(text, len(text))
        return self._run_on or bool(self._code) or any(s[0] == "tag" for s in self._states)

    def _read(self, text: str, end: int) -> None:
        while self._at < end and not self._run_on:
            if not (self._states or self._code):
                begins = _ADDRESS_BEGINS.search(text, self._at, end)
                if begins is None:
                    self._at = end
                    return
                self._at = begins.end() - 1  # its last character, which begins it
                self._line_has_text = True
            self._step(text, self._at)
            self._at += 1

    def _step(self, text: str, at: int) -> None:
        char, before = text[at], text[at - 1] if at else ""
        if char == "\r" or (char == "\n" and before != "\r"):  # a line ends
            if any(state in (("tag", "dq"), ("tag", "sq")) for state in self._states):
                self._run_on = True
            if not self._line_has_text:  # a blank line ends Markdown's destinations
                self._states = {state for state in self._states if state[0] == "tag"}
            self._line_has_text = False
        elif char not in " \t\n":
            self._line_has_text = True
        states = {_next(state, char) for state in self._states} - {None}
        if before == "]" and char == "(":
            states |= {("destination", "lead", 0, False), ("destination", "parens", 0, False)}
        elif before == "]" and char == ":":
            states.add(("definition", "lead", 0, False))
        elif before == "<" and char.isascii() and char.isalpha():
            states.add(("tag", "name"))
        elif char in "`~" and text[max(0, at - 2) : at] == char * 2:
            states.add(("info",))
        self._states = _merged(states)
        if char in _HTML_SPACES or char in "/>":  # where a tag's name ends
            read = text[max(0, at - 8) : at].lower()
            if self._code and read.endswith(f"</{self._code}"):
                self._code = ""
            elif not self._code:
                self._code = next((n for n in _CODE_ELEMENTS if read.endswith(f"<{n}")), "")


def _merged(states: set[tuple]) -> set[tuple]:
    """``states`` with one reading of a link's destination up to its closing parenthesis:
    all read the same text from here on, so the one nested deepest ends last (and one
    that read a backslash just now reads the next parenthesis as escaped)."""
    parens = {state for state in states if state[1:2] in (("parens",), ("deep",))}
    if len(parens) < 2:
        return states
    deepest = max(parens, key=lambda state: (state[1] == "deep", state[2]))
    return states - parens | {(*deepest[:3], any(state[3] for state in parens))}


def _next(state: tuple, char: str) -> tuple | None:
    """The state after ``char`` of one way of reading an address, None once it has ended."""
    if state[0] == "tag":
        phase = _tag_phase(state[1], char)
        return None if phase is None else ("tag", phase)
    if state[0] == "destination":
        return _destination(*state[1:], char)
    if state[0] == "info":  # to the line's end
        return None if char in "\r\n" else state
    return _definition(*state[1:], char)


_CLOSING_QUOTE = {"dq": '"', "sq": "'"}


def _tag_phase(phase: str, char: str) -> str | None:
    """A start tag as a browser reads it (the WHATWG tokenizer's states: ``name`` is the
    tag's, ``attribute`` an attribute's): the phase after ``char``, None once it ends."""
    if phase in _CLOSING_QUOTE:
        return "after_value" if char == _CLOSING_QUOTE[phase] else phase
    if char == ">":
        return None
    space = char in _HTML_SPACES
    if phase == "unquoted":
        return "before_name" if space else phase
    if phase == "before_value":
        return "dq" if char == '"' else "sq" if char == "'" else phase if space else "unquoted"
    if char == "/":  # a self-closing tag's, or the tag goes on
        return "before_name"
    if char == "=" and phase in ("attribute", "after_attribute"):
        return "before_value"
    if space:
        return "after_attribute" if phase in ("attribute", "after_attribute") else "before_name"
    # Anything else, quotes and "=" included, is part of a name, or begins an attribute's.
    return phase if phase in ("name", "attribute") else "attribute"


def _destination(phase: str, depth: int, escaped: bool, char: str) -> tuple | None:
    """A link's destination, read in two ways at once: as ``<…>`` (``lead`` skips the
    spaces before it, ``angle`` is inside) and then to the closing parenthesis
    (``parens``), and as plain text to that parenthesis. An escaped parenthesis closes
    nothing, but any opens one: reading more nesting reads on further. Nested deeper than
    ``_DEEPEST``, it is ``deep``, open up to the paragraph's end."""
    if phase == "deep":
        return ("destination", phase, 0, False)
    if phase == "lead":
        if char in " \t\r\n":
            return ("destination", phase, 0, False)
        return ("destination", "angle", 0, False) if char == "<" else None
    after_backslash = char == "\\" and not escaped
    if phase == "angle":
        if char == ">" and not escaped:
            return ("destination", "parens", 0, False)
        return ("destination", phase, 0, after_backslash)
    if char == "(":
        return (
            ("destination", "parens", depth + 1, False)
            if depth < _DEEPEST
            else ("destination", "deep", 0, False)
        )
    if char == ")" and not escaped:
        return ("destination", phase, depth - 1, False) if depth else None
    return ("destination", phase, depth, after_backslash)


def _definition(phase: str, lines: int, escaped: bool, char: str) -> tuple | None:
    """A reference definition's destination: after the spaces (and one line's end) that
    ``lead`` skips, a ``word`` up to a space, or ``<…>`` (``angle``)."""
    if phase == "lead":
        if char == "\n" and lines:
            return None  # a blank line
        if char in " \t\r\n":
            return ("definition", phase, lines + (char == "\n"), False)
        return ("definition", "angle" if char == "<" else "word", 0, False)
    if phase == "word":
        return None if char in " \t\n\r\f\v" else ("definition", phase, 0, False)
    if char == ">" and not escaped:
        return None
    return ("definition", phase, 0, char == "\\" and not escaped)


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
