"""Every evidence command, for every treatment and class id, in every format (issue 9.5).

An id with countable arms must give exit 0 and a document that says what it pooled; an id
with none must give exit 0 with an empty result or exit 2 with a one-line message. Exit 1
(an internal error) is never acceptable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calcinosis.cli import main
from calcinosis.evidence.knowledge_base import load_knowledge

KB = load_knowledge()
IDS = sorted(KB.treatments) + sorted(KB.classes)
THERAPIES = sorted(KB.therapy_ids())


def _countable(name: str, outcome: str) -> bool:
    field = "responders_any" if outcome == "any" else "responders_complete"
    return any(
        arm.n is not None and getattr(arm, field) is not None
        for arm in KB.arms_for(KB.resolve(name))
    )


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("outcome", ["any", "complete"])
def test_pool_every_id(
    capsys: pytest.CaptureFixture[str], name: str, fmt: str, outcome: str
) -> None:
    code = main(["evidence", "pool", name, "--outcome", outcome, "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    if fmt == "json":
        document = json.loads(out)
        assert document["treatment"] == name
        assert (document["estimate"] is not None) == _countable(name, outcome)
        if document["estimate"] is not None:
            low, high = document["ci"]
            assert 0 <= low <= document["estimate"] <= high <= 1
    else:
        assert out.startswith(f"{name}: {outcome} response")


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("fmt", ["text", "json", "csv", "markdown"])
def test_arms_every_id(capsys: pytest.CaptureFixture[str], name: str, fmt: str) -> None:
    code = main(["evidence", "arms", "--treatment", name, "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    if fmt == "json":
        arms = json.loads(out)
        assert {arm["treatment"] for arm in arms} <= set(KB.resolve(name))
        assert len(arms) == len(KB.arms_for(KB.resolve(name)))


@pytest.mark.parametrize("name", IDS)
def test_forest_every_id(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    output = tmp_path / "forest.svg"
    code = main(["evidence", "forest", name, "-o", str(output)])
    _, err = capsys.readouterr()
    if _countable(name, "any"):
        assert code == 0, err
        assert output.read_bytes().lstrip().startswith(b"<?xml")
    else:
        assert code == 2 and err.count("\n") == 1 and "no arm" in err
        assert not output.exists()


@pytest.mark.parametrize("name", THERAPIES)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_recommend_with_every_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, fmt: str
) -> None:
    """Every therapy id as a current medication and as a failed prior treatment."""
    profile = {
        "age_years": 45,
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "symptomatic": True,
        "medications": [name],
        "prior_treatments": [{"treatment": name, "response": "none"}],
    }
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(profile))
    code = main(["recommend", str(path), "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    if fmt == "json":
        plan = json.loads(out)
        assert plan["options"] and all(o["stance"] for o in plan["options"])
