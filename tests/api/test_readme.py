"""The README's Python examples, run exactly as written (only the address is the live server's)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[str]:
    section = README.read_text().split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_example_works_as_shown(org, live_server, token_for, monkeypatch, capsys):
    _, secret = token_for(org.alice)
    monkeypatch.setenv("STEWARD_TOKEN", secret)
    code = _examples()[0]
    assert 'base_url="http://127.0.0.1:8000/v1"' in code
    exec(code.replace("http://127.0.0.1:8000", live_server.url), {"__name__": "example"})
    assert capsys.readouterr().out == "Hello from the API.\n"


def test_the_readme_responses_example_works_after_it(
    org, live_server, token_for, monkeypatch, capsys
):
    _, secret = token_for(org.alice)
    monkeypatch.setenv("STEWARD_TOKEN", secret)
    first, responses = _examples()[:2]
    assert "client.responses.create(" in responses
    namespace = {"__name__": "example"}
    exec(first.replace("http://127.0.0.1:8000", live_server.url), namespace)
    exec(responses, namespace)
    assert capsys.readouterr().out == "Hello from the API.\nHello from the API.\n"
