"""Credentials: provider tokens, private keys, JWTs, and passwords after a key word.

Provider tokens have fixed prefixes, so a plain substring test decides whether a
pattern needs to run at all. Generic credentials are looked for only right
after a word like "password" or "api_key", never by entropy over the whole text.
"""

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from governance.scanning.base import Candidate, Entity, bounded, entropy
from governance.scanning.document import Doc
from governance.scanning.words import register_triggers


def _jwt_header_ok(token: str) -> bool:
    """A JWT's first part decodes to a JSON object naming its algorithm or type."""
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and ("alg" in header or "typ" in header)


def _mixed(token: str) -> bool:
    """Random-looking enough to be a key, not a word: letters and digits both."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


class TokenPattern(NamedTuple):
    note: str
    prefixes: tuple[str, ...]  # a cheap substring test before the pattern runs
    pattern: re.Pattern
    score: float = 0.95
    is_valid: Callable[[str], bool] | None = None


TOKEN_PATTERNS = (
    TokenPattern(
        "AWS access key ID",
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA"),
        re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|ROA|PKA)[A-Z2-7]{16}"),
    ),
    TokenPattern(
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}"),
    ),
    TokenPattern(
        "GitHub fine-grained token", ("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{22,}")
    ),
    TokenPattern(
        "GitLab token",
        (
            "glpat-",
            "gldt-",
            "glrt-",
            "glptt-",
            "glcbt-",
            "gloas-",
            "glsoat-",
            "glft-",
            "glimt-",
            "glagent-",
            "GR1348941",
        ),  # fmt: skip
        re.compile(r"(?:gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-|GR1348941)[\w-]{20,}"),
    ),
    TokenPattern("Slack token", ("xox",), re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    TokenPattern(
        "Slack webhook",
        ("hooks.slack.com",),
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+"),
    ),
    TokenPattern("Stripe key", ("k_live_", "k_test_"), re.compile(r"[rs]k_(?:live|test)_\w{16,}")),
    TokenPattern("Google API key", ("AIza",), re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    TokenPattern(
        "AI provider API key", ("sk-",), re.compile(r"sk-[A-Za-z0-9_\-]{20,}"), 0.9, _mixed
    ),
    TokenPattern("Hugging Face token", ("hf_",), re.compile(r"hf_[A-Za-z]{34,}")),
    TokenPattern("npm token", ("npm_",), re.compile(r"npm_[A-Za-z0-9]{36}")),
    TokenPattern("PyPI token", ("pypi-",), re.compile(r"pypi-AgE[A-Za-z0-9_\-]{50,}")),
    TokenPattern(
        "Azure storage key", ("AccountKey=",), re.compile(r"(?<=AccountKey=)[A-Za-z0-9+/=]{40,}")
    ),
    TokenPattern(
        "JWT",
        ("eyJ",),
        re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        0.95,
        _jwt_header_ok,
    ),
)


for _spec in TOKEN_PATTERNS:
    register_triggers(_spec.note, _spec.prefixes)


def find_tokens(doc: Doc) -> Iterator[Candidate]:
    """Tokens with a provider's prefix and shape; some also carry a structure check."""
    text, triggers = doc.text, doc.triggers
    for spec in TOKEN_PATTERNS:
        if spec.note not in triggers:
            continue
        for match in spec.pattern.finditer(text):
            if not bounded(text, *match.span()):
                continue
            if spec.is_valid and not spec.is_valid(match.group()):
                continue
            yield Candidate(Entity.SECRET, *match.span(), spec.score, spec.note)


_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# Base64 lines, and the "Proc-Type: 4,ENCRYPTED" headers of older encrypted keys.
_PEM_BODY_LINES = re.compile(r"(?:\s*(?:[A-Za-z0-9+/=]+|[A-Za-z-]+: [^\n]*))*\s*")
_PEM = register_triggers("private key", ["-----BEGIN"])
_URL = register_triggers("url", ["://"])
_URL_CREDENTIALS = re.compile(r"://[^\s/:@]{1,64}:([^\s/@]{1,128})@")


def find_private_keys(doc: Doc) -> Iterator[Candidate]:
    """PEM private-key blocks, through the END line (or to where a truncated body stops)."""
    if _PEM not in doc.triggers:
        return
    text = doc.text
    pos = 0
    while begin := _PEM_BEGIN.search(text, pos):
        # A body is base64 lines: the END line, if any, comes before anything else.
        body = _PEM_BODY_LINES.match(text, begin.end())
        end = _PEM_END.match(text, body.end())
        if end:
            pos = end.end()
        else:  # truncated: the block ends with its last non-space character
            pos = begin.end() + len(text[begin.end() : body.end()].rstrip())
        yield Candidate(Entity.SECRET, begin.start(), pos, 1.0, "private key block")


def find_url_credentials(doc: Doc) -> Iterator[Candidate]:
    """The password in ``scheme://user:password@host``."""
    if _URL not in doc.triggers:
        return
    text = doc.text
    sep = text.find("://")
    while sep != -1:
        match = _URL_CREDENTIALS.match(text, sep)
        if match:
            yield Candidate(Entity.SECRET, *match.span(1), 0.9, "password in URL")
        sep = text.find("://", sep + 3)


# --- credentials after a key word -----------------------------------------------------------

_STEMS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "bearer")
_CREDENTIAL = register_triggers("credential", _STEMS)
# The whole identifier must *end* in a key word: "db_password", "apiKey", "client-secret";
# not "passport", "keyboard" or "monkey".
_KEY_NAME = re.compile(
    r"(?:^|[_.\-])(?:pass(?:word|wd|phrase)?|pwd|secret|token|auth|authorization|bearer"
    r"|credentials?|(?:api|access|secret|private|signing|master|license|client)?_?key)s?$"
    r"|^(?:apikey|accesskey|secretkey|authtoken|accesstoken|clientsecret|privatekey)s?$"
)
_IDENTIFIER_TAIL = re.compile(r"[\w.\-]{0,64}")
_VALUE = re.compile(
    r"""["']?[ \t]{0,3}(?P<op>:=|=>|->|[:=]|[ \t]+(?:is|was|are)\b:?|[ \t])[ \t]{0,3}"""
    r"""(?:(?:bearer|basic|token)[ \t]+)?["'`]?(?P<value>[^\s"'`,;<>()\[\]{}]{6,256})""",
    re.IGNORECASE,
)
_PLACEHOLDERS = frozenset(
    {"null", "none", "true", "false", "undefined", "redacted", "changeme", "example", "password"}
)
# Template and environment references, masks: "${DB_PASSWORD}", "$TOKEN", "%(pw)s", "****".
_REFERENCE = re.compile(
    r"\$\{[^}]*\}?|\$[A-Z_][A-Z0-9_]*|%[A-Za-z_]\w*%|%\(\w+\)[sd]|\{\{.*|<[^>]*>?|[*xX.#•]+"
)


def _char_classes(value: str) -> int:
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def credential_value_ok(value: str, *, assigned: bool, password_word: bool) -> bool:
    """Whether a value after a key word looks like a real credential.

    ``assigned`` means an explicit ``:`` or ``=`` (config, JSON, env files);
    after "is" or a bare space, only random-looking values count, except a
    password, which is often short: "the password is hunter22".
    """
    if _REFERENCE.fullmatch(value) or value.lower().rstrip(".") in _PLACEHOLDERS:
        return False
    if len(set(value)) <= 2 or value.lower().startswith(("http", "www.")):
        return False
    classes = _char_classes(value)
    if assigned and password_word:
        # "password: LqMgaGcrWk": anything but a plain word ("required", "Optional").
        return not (value.isalpha() and value[1:].islower())
    if assigned or password_word:
        return (
            _mixed(value)
            or (classes >= 3 and len(value) >= 8)
            or (len(value) >= 20 and entropy(value) >= 4.0)
        )
    return (len(value) >= 12 and _mixed(value) and entropy(value) >= 3.3) or (
        classes >= 3 and len(value) >= 10
    )


def find_credentials(doc: Doc) -> Iterator[Candidate]:
    """Values given right after a key word: ``password: hunter22``, ``API_KEY=...``."""
    if _CREDENTIAL not in doc.triggers:
        return
    folded = doc.folded
    text = doc.text
    seen: set[int] = set()
    for stem in _STEMS:
        at = folded.find(stem)
        while at != -1:
            left = at
            while left > max(0, at - 64) and (
                folded[left - 1].isalnum() or folded[left - 1] in "_-."
            ):
                left -= 1
            right = _IDENTIFIER_TAIL.match(folded, at).end()
            at = folded.find(stem, right)
            if left in seen or not _KEY_NAME.search(folded[left:right]):
                continue
            seen.add(left)
            match = _VALUE.match(text, right)
            if not match:
                continue
            value = match.group("value").rstrip(".")
            assigned = match.group("op").strip() in (":", "=", ":=", "=>", "->")
            password_word = "pass" in folded[left:right] or "pwd" in folded[left:right]
            if credential_value_ok(value, assigned=assigned, password_word=password_word):
                start = match.start("value")
                note = "credential after a key word" + (" and =/:" if assigned else "")
                yield Candidate(
                    Entity.SECRET, start, start + len(value), 0.85 if assigned else 0.7, note
                )
