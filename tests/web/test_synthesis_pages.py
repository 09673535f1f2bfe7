"""The summary-of-findings page, the sensitivity sections of a treatment's page, and their
API routes, through the in-process client, parsed as HTML."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.summary_of_findings import Scope, summary_of_findings
from calcinosis.stats.certainty import PREFILLED


def soup(client: TestClient, path: str, status: int = 200) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def test_the_certainty_page_is_the_summary_of_findings(
    client: TestClient, kb: KnowledgeBase
) -> None:
    page = soup(client, "/evidence/certainty")
    assert page.find("h1").get_text() == "Summary of findings: certainty of the evidence"
    banner = page.find(class_="prefilled")
    assert PREFILLED in banner.get_text()
    assert banner["role"] == "note"
    rows = page.select("table.sof tbody tr")
    expected = summary_of_findings(kb)
    assert len(rows) == len(expected.rows)
    diltiazem = page.find("tr", attrs={"data-treatment": "diltiazem", "data-outcome": "any"})
    cells = [td.get_text(" ", strip=True) for td in diltiazem.find_all("td")]
    assert cells[1] == "3 (12/38)"
    assert cells[2] == "20% (2–73%)"
    assert diltiazem.find("td", class_="certainty")["data-certainty"] == "very low"
    domains = {td["data-domain"]: td.get_text(strip=True) for td in diltiazem.select("td.domain")}
    assert domains == {
        "risk of bias": "−1 serious",
        "inconsistency": "−2 very serious",
        "indirectness": "not serious",
        "imprecision": "−2 very serious",
        "publication bias": "not assessable",
    }
    assert diltiazem.find("td", class_="whom").get_text() == (
        "38 adults (SSc 12, DM 12, disease not reported 14)"
    )
    # every certainty links to its reasons, each domain with its reason
    link = diltiazem.find("td", class_="certainty").find("a")["href"]
    reasons = page.find("details", id=link.removeprefix("#"))
    items = [li.get_text(" ", strip=True) for li in reasons.find_all("li")]
    assert items[0].startswith("Start: low (observational (3 retrospective studies)")
    assert any(i.startswith("Risk of bias: serious, −1") and "Newcastle-Ottawa" in i for i in items)
    assert "Vayssairat M, Ann Rheum Dis 1998" in reasons.get_text()
    # the review's own words on its studies, cited as a reference
    basis = page.find(id="basis").get_text(" ", strip=True)
    assert "26 cohort studies graded as poor quality" in basis
    assert "Traineau et al., J Am Acad Dermatol 2020" in basis
    text = page.get_text().lower()
    assert "seed" not in text and ".txt" not in text


def test_the_certainty_page_for_children_with_dm(client: TestClient) -> None:
    page = soup(client, "/evidence/certainty?disease=DM&population=child")
    assert (
        "dystrophic calcinosis in children with dermatomyositis"
        in page.find(class_="question").get_text()
    )
    assert page.find("select", id="scope-disease").find("option", selected=True)["value"] == "DM"
    row = page.find("tr", attrs={"data-treatment": "rituximab", "data-outcome": "any"})
    assert (
        row.find("td", attrs={"data-domain": "indirectness"}).get_text(strip=True) == "−1 serious"
    )
    for control in page.select("form.scope select"):
        assert page.find("label", attrs={"for": control["id"]})


def test_a_bad_scope_is_refused(client: TestClient) -> None:
    response = client.get("/evidence/certainty?population=elderly")
    assert response.status_code == 422
    assert "population" in response.text


@pytest.mark.parametrize(("treatment", "k"), [("rituximab", 6), ("warfarin", 5)])
def test_a_treatment_page_shows_subgroups_leave_one_out_and_hartung_knapp(
    client: TestClient, treatment: str, k: int
) -> None:
    page = soup(client, f"/treatments/{treatment}")
    section = page.find("section", id="sensitivity")
    tables = {t["data-by"]: t for t in section.select("table.subgroups")}
    assert set(tables) == {"disease", "population"}
    assert [tr["data-group"] for tr in tables["disease"].select("tbody tr")] == ["DM", "SSc"]
    tests = [p.get_text(" ", strip=True) for p in section.select("p.subgroup-test")]
    assert all(t.startswith("Test for subgroup differences: Q = ") for t in tests)
    assert len(section.select("table.leave-one-out tbody tr")) == k
    knapp = section.find(class_="hartung-knapp").get_text(" ", strip=True)
    assert f"REML with the Hartung-Knapp adjustment (t with {k - 1} df)" in knapp
    assert "Whom: " in knapp
    certainty = page.find("section", id="certainty")
    assert PREFILLED in certainty.get_text()
    links = [a["href"] for a in certainty.find_all("a")]
    assert links == [
        f"/evidence/certainty#{treatment}-any",
        f"/evidence/certainty#{treatment}-complete",
    ]


def test_warfarin_says_which_arms_are_in_neither_disease_subgroup(client: TestClient) -> None:
    page = soup(client, "/treatments/warfarin")
    test = page.select("p.subgroup-test")[0].get_text(" ", strip=True)
    assert "Balin 2012 (disease not reported (DM or SSc))" in test
    assert "Berger 1987 (includes DM/SSc overlap (DM/SSc 1, DM 2))" in test


def test_one_study_has_no_leave_one_out(client: TestClient) -> None:
    page = soup(client, "/treatments/microdrilling")
    assert page.find("table", class_="leave-one-out") is None
    assert page.find(class_="hartung-knapp") is None
    assert page.find("section", id="certainty") is not None


def test_the_evidence_page_links_to_the_summary_of_findings(client: TestClient) -> None:
    page = soup(client, "/evidence")
    assert page.find("a", href="/evidence/certainty")


def test_the_api_gives_the_same_documents(client: TestClient, kb: KnowledgeBase) -> None:
    document = client.get("/api/evidence/certainty?treatment=rituximab&disease=DM&population=child")
    assert document.status_code == 200
    body = document.json()
    sof = summary_of_findings(kb, ["rituximab"], scope=Scope("DM", "child"))
    assert body == sof.document().model_dump()
    assert body["prefilled"] == PREFILLED
    pool = client.get(
        "/api/evidence/pool/rituximab",
        params={
            "method": "reml",
            "by": "population",
            "leave_one_out": "true",
            "hartung_knapp": "true",
        },
    ).json()
    assert pool["subgroups"]["by"] == "population"
    assert len(pool["leave_one_out"]) == 6
    assert pool["hartung_knapp"]["df"] == 5
    plain = client.get("/api/evidence/pool/rituximab").json()
    assert "subgroups" not in plain and plain["about"]


def test_the_api_refuses_hartung_knapp_for_the_glmm_and_unknown_names(client: TestClient) -> None:
    refused = client.get("/api/evidence/pool/diltiazem?hartung_knapp=true")
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "inverse-variance methods" in refused.json()["detail"]
    assert client.get("/api/evidence/certainty?treatment=nonsense").status_code == 404
    assert client.get("/api/evidence/pool/diltiazem?by=age").status_code == 422


def test_openapi_lists_the_certainty_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/evidence/certainty" in spec["paths"]
    parameters = {
        p["name"] for p in spec["paths"]["/api/evidence/pool/{treatment}"]["get"]["parameters"]
    }
    assert {"by", "leave_one_out", "hartung_knapp"} <= parameters
