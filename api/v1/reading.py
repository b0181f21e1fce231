"""Reading a /v1 request's body: what it asks of the model (its text, its sampling), and the
parameters Steward cannot honour refused in OpenAI's terms (400), never quietly dropped."""

import json
import logging
from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from api.parsers import BROKEN_TEXT, holds_broken_text
from api.v1.problems import Problem, _shown, bad, too_large
from chat import services
from chat.llm import Sampling
from config.bodies import FORM_BODY_TOO_LARGE
from governance.detection import detect
from governance.policy import HARMLESS_TYPES, entity_phrase
from governance.policy_cache import Version

logger = logging.getLogger(__name__)

#: OpenAI's roles, as the backends are given them ("developer" is OpenAI's newer "system").
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class Asked:
    """What a request asks of the model, read by its endpoint's rules."""

    parts: list[tuple[str, str]]  # (role, text)
    sampling: Sampling


class _NotJsonNumber(ValueError):
    """NaN or Infinity: Python's json reads them, no JSON parser must (nor writes them back)."""


def _no_constant(name: str):
    raise _NotJsonNumber(name)


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body, parse_constant=_no_constant)
    except _NotJsonNumber as exc:
        raise bad(
            f"The request body is not valid JSON: {exc} is not a JSON number.", code="invalid_json"
        ) from None
    except RequestDataTooBig:
        raise too_large(FORM_BODY_TOO_LARGE) from None
    except json.JSONDecodeError as exc:  # where it broke: a trailing comma is hard to spot
        raise bad(
            f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column "
            f"{exc.colno}).",
            code="invalid_json",
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise bad("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # what json raises for a body nested too deeply
        raise bad("The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", code="invalid_json")
    if holds_broken_text(body):
        raise bad(BROKEN_TEXT, code="invalid_text")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad(
            "Name a model ('auto' lets the policy choose).", code="missing_model", param="model"
        )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad("'stream' must be true or false.", code="invalid_stream", param="stream")
    if body.get("stream_options") is not None:
        if not isinstance(body["stream_options"], dict):
            raise bad(
                "'stream_options' must be an object.", code="invalid_value", param="stream_options"
            )
        if body.get("stream") is not True:
            raise bad(
                "'stream_options' is allowed only when 'stream' is true.",
                code="invalid_value",
                param="stream_options",
            )
    return body


def _parts(messages) -> list[tuple[str, str]]:
    """The request's messages as (role, text); only text goes through Steward."""
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list.", code="invalid_messages", param="messages")
    parts = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise bad(
                "Each message needs a role: system, developer, user or assistant "
                "(tools are not supported).",
                code="invalid_messages",
                param="messages",
            )
        if message.get("tool_calls") or message.get("function_call"):
            raise bad(
                "Tool calls are not supported: send the earlier turns as text.",
                code="invalid_messages",
                param="messages",
            )
        parts.append((ROLES[role], text_of(message.get("content"))))
    return within_limits(parts, "messages")


def within_limits(parts: list[tuple[str, str]], param: str) -> list[tuple[str, str]]:
    """``parts``, if they hold some text and no more than a message may (else 400), counted
    as the chat counts them: joined into one text."""
    size = len(services.PART_SEPARATOR.join(text for _, text in parts))
    if not any(text.strip() for _, text in parts):
        raise bad(f"There is no text in '{param}'.", code="empty_messages", param=param)
    if size > services.MAX_MESSAGE_CHARS:
        raise bad(
            f"The text in '{param}' is {size:,} characters; the limit is "
            f"{services.MAX_MESSAGE_CHARS:,}. Send less: the part that matters, or fewer "
            "earlier turns.",
            code="context_length_exceeded",
            param=param,
        )
    return parts


#: The sampling parameters passed on to the backend, with OpenAI's ranges.
RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
#: A seed is a 64-bit signed integer.
SEEDS = range(-(2**63), 2**63)
#: The longest answer that may be asked for: what a 32-bit integer holds, as some backends
#: take it (a larger number reached them and failed there, a 502 far from the cause).
MAX_LENGTH_ASKED = 2**31 - 1


def sampling_asked(
    body: dict, version: Version, limits=("max_completion_tokens", "max_tokens")
) -> Sampling:
    """temperature, top_p, the answer's length (``limits``: its names, newest first),
    ``stop``, ``seed`` and the two penalties as asked; each backend is given them in its own
    terms, or not at all where it has none (chat.llm)."""
    asked = {}
    for name, (low, high) in RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low <= value <= high:
            raise bad(
                f"'{name}' must be a number from {low:g} to {high:g}.",
                code="invalid_value",
                param=name,
            )
        asked[name] = float(value)
    for name in limits:
        value = body.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_LENGTH_ASKED
        ):
            raise bad(
                f"'{name}' must be a whole number from 1 to {MAX_LENGTH_ASKED:,}.",
                code="invalid_value",
                param=name,
            )
        asked.setdefault("max_tokens", value)
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed not in SEEDS:
            raise bad(
                "'seed' must be a whole number (64 bits).", code="invalid_value", param="seed"
            )
        asked["seed"] = seed
    stop = _stop(body.get("stop"), version)
    return Sampling(**asked, stop=stop)


#: OpenAI's limits on ``stop``: up to four sequences; ours on each one's length.
MAX_STOP_SEQUENCES, MAX_STOP_CHARS = 4, 200


def _stop(value, version: Version) -> tuple[str, ...] | None:
    """The stop sequences, scanned like the messages: they leave for the backend too, so
    one that holds anything the scanner or a rule finds (a value that would be a
    placeholder there, a protected term, a blocked keyword) is refused."""
    if value is None:
        return None
    sequences = [value] if isinstance(value, str) else value
    if (
        not isinstance(sequences, list)
        or not 1 <= len(sequences) <= MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in sequences)
    ):
        raise bad(
            f"'stop' must be a string or a list of up to {MAX_STOP_SEQUENCES}, each of 1 to "
            f"{MAX_STOP_CHARS} characters.",
            code="invalid_value",
            param="stop",
        )
    try:
        found = [detect(sequence, version=version) for sequence in sequences]
    except Exception:
        logger.exception("scanner failed on a request's stop sequences")
        raise Problem(
            503,
            "Steward could not check the stop sequences, so nothing was sent; try again.",
            kind="server_error",
            code="scan_failed",
        ) from None
    kinds = Counter(
        str(f.type) for d in found for f in d.scan.findings if str(f.type) not in HARMLESS_TYPES
    )
    if kinds or any(d.rule_hits for d in found):
        what = ", ".join(entity_phrase(kind, count) for kind, count in sorted(kinds.items()))
        raise bad(
            f"A stop sequence may not hold {what or 'what a detection rule looks for'}: it "
            "would reach the backend as it is.",
            code="invalid_value",
            param="stop",
        )
    return tuple(sequences)


#: What a request may ask for that changes the answer's shape, and how its value is
#: harmless: a client that asks for several choices, tool calls, JSON output or log
#: probabilities and is quietly given one plain answer fails later, further from the cause.
UNSUPPORTED = {
    "n": (
        lambda value: value is None or (type(value) is int and value == 1),  # not True
        "Steward gives one answer per request: 'n' must be 1.",
    ),
    "tools": (lambda value: not value, "Tools are not supported: the answer is text only."),
    "functions": (lambda value: not value, "Functions are not supported: the answer is text only."),
    "tool_choice": (
        lambda value: value in (None, "none", "auto"),
        "Tools are not supported: 'tool_choice' may only be 'none' or 'auto'.",
    ),
    "function_call": (
        lambda value: value in (None, "none", "auto"),
        "Functions are not supported: 'function_call' may only be 'none' or 'auto'.",
    ),
    "response_format": (
        lambda value: value is None or (isinstance(value, dict) and value.get("type") == "text"),
        'Only text answers are supported: \'response_format\' may only be {"type": "text"}. '
        "Ask for JSON in the message instead.",
    ),
    "logprobs": (lambda value: not value, "Log probabilities are not available through Steward."),
    "top_logprobs": (
        lambda value: not value,
        "Log probabilities are not available through Steward.",
    ),
    "modalities": (
        lambda value: value is None or value == ["text"],
        "Only text answers are supported: 'modalities' may only be [\"text\"].",
    ),
    "audio": (lambda value: value is None, "Only text answers are supported: no 'audio'."),
    "parallel_tool_calls": (
        lambda value: value is None,
        "Tools are not supported: 'parallel_tool_calls' has no tools to call.",
    ),
}
#: Tools a request says not to call (``tool_choice: "none"``) are dropped, not refused: a
#: text-only answer is what it asks for. Each by the choice that leaves it unused.
NOT_CALLED = {
    "tools": ("tool_choice", "none"),
    "parallel_tool_calls": ("tool_choice", "none"),
    "functions": ("function_call", "none"),
}
#: What a request may hold without being refused, besides :data:`UNSUPPORTED`'s, read by
#: :func:`refuse_unsupported`: ``HONOURED``, and ``IGNORED``, which is accepted and not passed
#: on because the answer is the same without it (who the end user is, which Steward knows
#: from the token; whether OpenAI keeps the completion, or which price tier serves it; a
#: caching hint). Anything else is refused: the README promises unsupported parameters are
#: refused, not ignored (a JSON schema, a logit bias or a reasoning effort quietly dropped
#: changes the answer).
IGNORED = frozenset(
    {
        "user",
        "safety_identifier",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
HONOURED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "metadata",  # its category; the rest is the caller's
        *RANGES,
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
    }
)


def refuse_unsupported(
    body: dict, unsupported: dict = UNSUPPORTED, accepted: frozenset = HONOURED | IGNORED
) -> None:
    """400 naming the first parameter Steward neither honours nor knows to be harmless to
    drop, or one it knows set to what it cannot give (tools, JSON output, several
    choices). A parameter set to null asks for nothing."""
    for name, value in body.items():
        if value is not None and name not in accepted and name not in unsupported:
            raise bad(
                f"Steward does not support the parameter {_shown(name)}: a parameter it cannot "
                "honour is refused, not ignored (see the README's list).",
                code="unsupported_parameter",
                param=name[:80],
            )
    for name, (harmless, message) in unsupported.items():
        if name in body and not harmless(body[name]) and not _not_called(name, body):
            raise bad(message, code="unsupported_parameter", param=name)


def _not_called(name: str, body: dict) -> bool:
    choice, none = NOT_CALLED.get(name, (None, None))
    return choice is not None and body.get(choice) == none


def text_of(content, *, kinds=("text",), param="messages") -> str:
    """A message's content as text: a string, or a list of text parts (their ``type`` one of
    ``kinds``); anything else (an image, a file, audio) is 400 naming ``param``."""
    if isinstance(content, str):
        return content
    if content is None:
        raise bad("A message has no content: give its text.", code="invalid_content", param=param)
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") in kinds and isinstance(p.get("text"), str)
        for p in content
    ):
        return "\n".join(p["text"] for p in content)
    raise bad("Only text content is supported.", code="invalid_content", param=param)
