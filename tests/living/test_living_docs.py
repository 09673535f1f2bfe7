"""The README's "Living evidence" section, run as a methodologist runs it: its commands
one after another in one directory, each printing what the README shows."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.cli import main
from calcinosis.evidence.knowledge_base import read_knowledge
from calcinosis.settings import Settings
from calcinosis.web.app import create_app
from living.test_living_add import MINIMAL

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Living evidence") : README.index("## Development")]
HASH = re.compile(r"\+[0-9a-f]{12}\b")  # the content hash of a version: data, not prose


def _session() -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console session\n(.*?)```", SECTION, re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = []
                steps.append((line[2:], current))
            elif current is not None and line.strip() and line.strip() != "...":
                current.append(line)
    return steps


def _squash(text: str) -> str:
    return HASH.sub("+HASH", " ".join(text.split()))


def test_the_yaml_examples_are_the_files() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
    assert blocks[0] == MINIMAL
    assert blocks[1] == (ROOT / "src/calcinosis/examples/study-example.yaml").read_text("utf-8")


def test_the_session_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = _session()
    commands = [command.split() for command, _ in steps]
    assert [words[2] for words in commands if words[1] == "evidence"] == [
        "add",
        "add",
        "diff",
        "release",
        "release",
    ]
    shutil.copytree(ROOT / "src/calcinosis/examples", tmp_path / "src/calcinosis/examples")
    monkeypatch.chdir(tmp_path)
    for command, expected in steps:
        argv = shlex.split(command)
        assert argv[0] == "calcinosis"
        if argv[1] == "serve":  # the web app on that directory, in process
            directory = argv[argv.index("--knowledge") + 1]
            settings = Settings.from_env(env={"CALCINOSIS_DATABASE_URL": "sqlite:///web.db"})
            app = create_app(settings, kb=read_knowledge(directory))
            with TestClient(app, base_url="http://127.0.0.1:8000") as client:
                page = BeautifulSoup(client.get("/evidence/changes").text, "html.parser")
            titles = [h.get_text(" ", strip=True) for h in page.select("section.release h2")]
            assert titles[0] == "Version 1.1.0, released 2026-12-15 (current)"
            continue
        code = main(argv[1:])
        out, err = capsys.readouterr()
        shown = _squash(out + err)
        position = 0
        for line in expected:
            found = shown.find(_squash(line), position)
            assert found >= 0, f"README shows {line!r}; `{command}` printed:\n{out}{err}"
            position = found
        refused = any(line.startswith("calcinosis: error:") for line in expected)
        assert code == (2 if refused else 0), f"{command}: exit {code}\n{err}"
