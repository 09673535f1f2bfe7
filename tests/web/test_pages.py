"""The pages, parsed as HTML: what a clinician sees and follows."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.audit import audit
from calcinosis.engine import STEPS
from calcinosis.evidence import KnowledgeBase

SSC = [
    ("subtype", "dystrophic"),
    ("age_years", "58"),
    ("sex", "female"),
    ("underlying_disease", "systemic-sclerosis"),
    ("disease_active", "no"),
    ("symptomatic", "yes"),
    ("lesions_count", "3"),
    ("lesions_largest_cm", "0.8"),
    ("lesions_distribution", "localized"),
    ("lesions_digital", "yes"),
    ("raynaud", "yes"),
    ("medications", "warfarin"),
]


def soup(client: TestClient, path: str, status: int = 200) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def options(page: BeautifulSoup, stance: str) -> list[str]:
    section = page.find("section", attrs={"data-stance": stance})
    return [d["data-option"] for d in section.find_all("details")] if section else []


@pytest.mark.parametrize(
    "path",
    ["/", "/evidence", "/algorithm", "/about", "/treatments/diltiazem", "/?" + urlencode(SSC)],
)
def test_every_page_is_accessible_and_self_contained(
    client: TestClient, kb: KnowledgeBase, path: str
) -> None:
    page = soup(client, path)
    assert page.html["lang"] == "en"
    assert "does not replace" in page.find(class_="disclaimer").get_text()
    assert page.find(class_="evidence-version").get_text() == kb.version
    for script in page.find_all("script"):
        assert script.get("src", "").startswith("/static/")  # no inline script, no CDN
    assert not page.find_all(style=True)
    for link in page.find_all("link", rel="stylesheet"):
        assert link["href"].startswith("/static/")
    for control in page.find_all(["input", "select"]):
        if control.get("type") in ("checkbox", "hidden"):
            assert control.find_parent("label"), control
        else:
            assert control.get("aria-label") or page.find("label", attrs={"for": control["id"]})
    for img in page.find_all("img"):
        assert img.get("alt")


def test_the_assessment_form_gives_the_plan(client: TestClient) -> None:
    page = soup(client, "/?" + urlencode(SSC))
    assert options(page, "first-line") == [
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-topical",
    ]
    assert options(page, "alternative")[0] == "diltiazem"
    assert {"warfarin", "infliximab", "sodium-thiosulfate-iv"} <= set(options(page, "avoid"))
    assert any("Warfarin" in p.get_text() for p in page.select(".plan > .warning"))
    first = page.find("details", attrs={"data-option": "sodium-thiosulfate-intralesional"})
    assert first.has_attr("open")
    assert "Grade 2C (GRADE, management topic)" in first.find(class_="grade").get_text()
    # every evidence line, with its unit: the topic's lesions and the review's patients
    evidence = [li.get_text() for li in first.select(".evidence-lines li")]
    assert any("13 of 13 lesions" in line for line in evidence)
    assert any(
        "Baumgartner-Nielsen 2016" in line and "5 of 5 patients" in line for line in evidence
    )
    assert first.find(class_="response") is None  # one study: nothing is pooled
    ids = {li["id"] for li in page.select(".citations li")}
    for anchor in page.select('.plan a[href^="#cite-"]'):
        assert anchor["href"][1:] in ids
    # the form keeps what was entered
    assert page.find("select", id="subtype").find("option", selected=True)["value"] == "dystrophic"
    assert page.find("input", id="age_years")["value"] == "58"


def test_the_share_link_reproduces_the_plan(client: TestClient) -> None:
    page = soup(client, "/?" + urlencode(SSC))
    link = page.find("a", id="share-link")["href"]
    again = soup(client, link)
    assert options(again, "first-line") == options(page, "first-line")
    assert options(again, "avoid") == options(page, "avoid")


def test_validation_messages_sit_beside_the_field(client: TestClient) -> None:
    page = soup(client, "/?subtype=dystrophic&age_years=abc&lesions_largest_cm=2", 422)
    field = page.find("input", id="age_years")
    assert field["aria-invalid"] == "true"
    message = page.find(id=field["aria-describedby"])
    assert "valid number" in message.get_text()
    assert page.find(id="plan") is None
    page = soup(client, "/?subtype=dystrophic&age_years=40&lesions_largest_cm=-1", 422)
    assert page.find("input", id="lesions_largest_cm")["aria-invalid"] == "true"
    page = soup(
        client,
        "/?subtype=dystrophic&age_years=40&prior_2_treatment=aspirin&prior_2_response=none",
        422,
    )
    assert page.find("select", id="prior_2_treatment")["aria-invalid"] == "true"


def test_a_treatment_tried_without_its_response_is_refused_beside_that_field(
    client: TestClient,
) -> None:
    """No silent "none": it would say the treatment failed and move the plan on."""
    tried = [*SSC, ("prior_2_treatment", "sodium-thiosulfate-intralesional")]
    page = soup(client, "/?" + urlencode(tried), 422)
    field = page.find("select", id="prior_2_response")
    assert field["aria-invalid"] == "true"
    assert field.find("option", selected=True) is None  # nothing chosen for the clinician
    message = page.find(id=field["aria-describedby"]).get_text()
    assert "how did the patient respond" in message and "partial" in message
    assert page.find(id="plan") is None
    # with its response, the same row is accepted and read as entered
    page = soup(client, "/?" + urlencode([*tried, ("prior_2_response", "partial")]))
    assert "sodium-thiosulfate-intralesional" in options(page, "first-line")


def test_print_view_is_the_plan_alone(client: TestClient) -> None:
    page = soup(client, "/print?" + urlencode(SSC))
    assert page.find("form") is None and page.find("nav") is None
    assert options(page, "first-line")


def test_treatment_page(client: TestClient, kb: KnowledgeBase) -> None:
    page = soup(client, "/treatments/rituximab")
    assert page.h1.get_text() == "Rituximab"
    rows = page.select("table.data tbody tr")
    assert len(rows) == len(kb.arms_for(["rituximab"]))
    assert page.find("img", src="/treatments/rituximab/forest.svg")
    svg = client.get("/treatments/rituximab/forest.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "Giuggioli" in svg.text
    assert page.select(".statements li")
    soup(client, "/treatments/aspirin", 404)


def test_evidence_page(client: TestClient, kb: KnowledgeBase) -> None:
    page = soup(client, "/evidence")
    assert [s["id"] for s in page.select("main section")] == [
        "table-4",
        "table-1",
        "table-2",
        "table-3",
        "audit",
    ]
    assert len(page.select("#table-4 tbody tr")) == len(kb.table4)
    assert len(page.select(".audit-item")) == len(audit(kb))
    assert page.find("img", src="/evidence/map.svg")
    ET.fromstring(client.get("/evidence/map.svg").content)  # noqa: S314 - our own SVG


def test_the_algorithm_diagram_is_the_engine(client: TestClient) -> None:
    root = ET.fromstring(client.get("/algorithm.svg").content)  # noqa: S314 - our own SVG
    drawn = {g.get("data-step") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert drawn == {step.__name__ for chain in STEPS.values() for step in chain}
    page = soup(client, "/algorithm")
    listed = [code.get_text() for code in page.select("main li code")]
    assert listed == [step.__name__ for chain in STEPS.values() for step in chain]
