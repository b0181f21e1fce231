"""The README's Python example, run exactly as written (only the address is the live server's)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    section = README.read_text().split("\n## API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_works_as_shown(org, live_server, token_for, monkeypatch, capsys):
    _, secret = token_for(org.alice)
    monkeypatch.setenv("STEWARD_TOKEN", secret)
    code = _example()
    assert 'base_url="http://127.0.0.1:8000/v1"' in code
    exec(code.replace("http://127.0.0.1:8000", live_server.url), {"__name__": "example"})
    assert capsys.readouterr().out == "Hello from the API.\n"
