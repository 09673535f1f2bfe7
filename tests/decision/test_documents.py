"""The typed plan document: the JSON it writes, its shape, and that shared parts are frozen."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
import yaml

from calcinosis.decision.documents import AvoidedOption, OfferedOption, PlanDocument
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import parse_patient
from calcinosis.evidence.knowledge_base import KnowledgeBase

PANEL = Path(__file__).parents[2] / "src" / "calcinosis" / "knowledge" / "panel.yaml"
PROFILES = [entry["profile"] for entry in yaml.safe_load(PANEL.read_text(encoding="utf-8"))]


def _plan(kb: KnowledgeBase, profile: dict[str, object]) -> PlanDocument:
    return recommend_document(parse_patient(profile, kb.therapy_ids()), kb)


@pytest.mark.parametrize("profile", PROFILES[::4])
def test_pydantic_writes_what_json_dump_writes(
    kb: KnowledgeBase, profile: dict[str, object]
) -> None:
    """`recommend --format json` writes model_dump_json(indent=2): the same bytes as
    json.dumps(indent=2, ensure_ascii=False) of the document (floats, non-ASCII, nulls)."""
    plan = _plan(kb, profile)
    assert plan.model_dump_json(indent=2) == json.dumps(
        plan.model_dump(), indent=2, ensure_ascii=False
    )


@pytest.mark.parametrize("profile", PROFILES[::4])
def test_an_avoided_option_has_no_evidence_fields(
    kb: KnowledgeBase, profile: dict[str, object]
) -> None:
    plan = _plan(kb, profile).model_dump()
    offered_only = set(OfferedOption.model_fields) - set(AvoidedOption.model_fields)
    assert "evidence" in offered_only and "regimens" in offered_only
    for option in plan["options"]:
        keys = list(option)
        if option["stance"] == "avoid":
            assert keys == list(AvoidedOption.model_fields) and not offered_only & set(keys)
        else:
            assert keys == list(OfferedOption.model_fields)
    assert list(plan) == list(PlanDocument.model_fields)


def test_shared_parts_cannot_be_changed(kb: KnowledgeBase) -> None:
    """Evidence lines, pooled summaries and citations are cached and shared between plans:
    one plan cannot change another's."""
    profile = {"age_years": 58, "subtype": "dystrophic", "underlying_disease": "systemic-sclerosis"}
    plan = _plan(kb, profile)
    offered = next(o for o in plan.options if isinstance(o, OfferedOption) and o.evidence)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        offered.evidence[0].text = "changed"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        plan.citations[0].n = 99  # type: ignore[misc]
    again = _plan(kb, profile)
    assert again.model_dump() == plan.model_dump()


def test_the_models_refuse_what_the_contract_does_not_allow() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        AvoidedOption.model_validate({"stance": "avoid", "unknown": 1})
    with pytest.raises(pydantic.ValidationError, match="avoid_reason"):
        OfferedOption.model_validate({"stance": "first-line", "avoid_reason": "harm"})


def test_prepare_pools_every_option_s_evidence_before_the_first_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``plan.prepare`` (run by ``calcinosis serve`` before it binds the port) leaves the
    first plan nothing to pool: with pooling made to fail, a plan of a base prepared
    first is built, and the same plan of a base not prepared fails (the first request
    on a fresh server took 0.90 s, then 4 ms, before it)."""
    from calcinosis.decision import plan  # noqa: PLC0415 - the module whose pooling is cut
    from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, read_knowledge  # noqa: PLC0415

    profile = json.loads(
        (
            Path(plan.__file__).parents[1] / "examples" / "ssc_digital_raynaud_on_warfarin.json"
        ).read_text(encoding="utf-8")
    )
    prepared, cold = read_knowledge(KNOWLEDGE_DIR), read_knowledge(KNOWLEDGE_DIR)
    plan.prepare(prepared)

    def no_pooling(*args: object, **kwargs: object) -> None:
        raise AssertionError("pooled while a plan was asked for")

    monkeypatch.setattr(plan, "pool_document", no_pooling)
    document = _plan(prepared, profile)
    pooled = [o for o in document.options if isinstance(o, OfferedOption) and o.response]
    assert pooled  # the example's plan shows pooled responses, all from prepare
    with pytest.raises(AssertionError, match="pooled while a plan was asked for"):
        _plan(cold, profile)
