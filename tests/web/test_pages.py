"""The pages, parsed as HTML: what a clinician sees and follows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.decision import engine
from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import SUBTYPES, parse_patient
from calcinosis.evidence.audit import audit
from calcinosis.evidence.knowledge_base import KnowledgeBase

SVG = "{http://www.w3.org/2000/svg}"
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
    [
        "/",
        "/evidence",
        "/evidence/certainty",
        "/algorithm",
        "/about",
        "/treatments/diltiazem",
        "/?" + urlencode(SSC),
        "/print?" + urlencode(SSC),
        "/handout?" + urlencode(SSC),
    ],
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
    banner = page.select_one("#summary .medication").get_text()
    assert "Warfarin" in banner and "about treating calcinosis only" in banner
    assert "keep it" in banner and "ask its prescriber" in banner
    first = page.find("details", attrs={"data-option": "sodium-thiosulfate-intralesional"})
    assert first.has_attr("open")
    assert "Grade 2C (GRADE, management topic)" in first.find(class_="grade").get_text()
    # the summary opens the page, the form folded above it
    assert not page.find("details", id="assessment").has_attr("open")
    main = page.find("main")
    order = [tag.get("id") for tag in main.find_all(["section", "details"], id=True)]
    assert order.index("summary") < order.index("plan")
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
    """One page: the summary, the chosen regimen, what to watch for, footnotes; no trace."""
    page = soup(client, "/print?" + urlencode(SSC))
    assert page.find("form") is None and page.find("nav") is None
    assert page.h1 and "dystrophic" in page.h1.get_text()
    first = [li["data-option"] for li in page.select("#summary .row-first li")]
    assert first == ["sodium-thiosulfate-intralesional", "sodium-thiosulfate-topical"]
    assert page.find(class_="trace") is None and page.find(class_="evidence-lines") is None
    assert "150 mg/mL given monthly" in page.select_one("#regimen-title").parent.get_text()
    assert "skin irritation" in page.select_one("#watch-title").parent.get_text()
    # footnotes for what the sheet cites, and only those
    cited = {a["href"].removeprefix("#cite-") for a in page.select('a[href^="#cite-"]')}
    noted = {span["id"].removeprefix("cite-") for span in page.select(".footnotes span[id]")}
    assert cited == noted
    full = soup(client, "/?" + urlencode(SSC))
    assert len(noted) < len(full.select(".citations li")) / 3


def _options_in_summary(page: BeautifulSoup, row: str) -> list[str]:
    return [li["data-option"] for li in page.select(f"#summary {row} li[data-option]")]


def test_the_summary_answers_first_with_strength_and_reasons(client: TestClient) -> None:
    page = soup(client, "/?" + urlencode(SSC))
    summary = page.find(id="summary")
    start = summary.select_one(".row-first li")
    assert start.find(class_="option-name").get_text() == "Intralesional sodium thiosulfate"
    assert start.find(class_="strength").get_text() == "low certainty, suggested"
    notation = start.find(class_="notation")
    assert notation.get_text() == "Grade 2C; review: level 4, grade C"
    assert "weak recommendation" in notation["title"] and "level 4" in notation["title"]
    # what does not work and what harms this patient are two groups, each with its why
    assert _options_in_summary(page, '[data-avoid="ineffective"]') == [
        "acetic-acid-iontophoresis",
        "sodium-thiosulfate-iv",
        "warfarin",
    ]
    assert _options_in_summary(page, '[data-avoid="harm"]') == ["adalimumab", "infliximab"]
    warfarin = summary.select_one('[data-avoid="ineffective"] li[data-option="warfarin"]')
    assert "randomised trial" in warfarin.get_text()
    assert "moderate certainty, ineffective: do not use" in warfarin.get_text()
    tnf = summary.select_one('li[data-option="infliximab"]').get_text()
    assert "lung fibrosis" in tnf and "harmful for this patient" in tnf
    when = summary.get_text()
    assert "Improvement may be evident within one to four treatments" in when
    assert _options_in_summary(page, ".row:not(.row-first):not(.row-avoid)")[:1] == ["diltiazem"]
    # every option's one-line reason and strength sit in its heading, visible unopened
    for option in page.select("#plan details.option"):
        head = option.find("summary")
        assert head.find(class_="reason").get_text().strip(), option["data-option"]
        assert head.find(class_="strength").get_text().strip()
        assert head.find("a") is None  # no link inside a clickable heading
    groups = [s["data-avoid"] for s in page.select("#stance-avoid section[data-avoid]")]
    assert groups == ["ineffective", "harm"]


def test_numbers_say_their_unit_any_or_complete_raw_count_first(client: TestClient) -> None:
    page = soup(client, "/?" + urlencode(SSC))
    diltiazem = page.find("details", attrs={"data-option": "diltiazem"})
    text = " ".join(diltiazem.find(class_="response").get_text().split())
    assert text.startswith("Across 3 studies: 12 of 38 patients responded (any response, 32%)")
    assert "no complete responses reported (0 of 38 patients)" in text
    modelled = text.index("Modelled estimate (random effects, k = 3): 20%")
    assert modelled > text.index("12 of 38")  # the count first, the model second
    assert "very uncertain" in text  # 95% CI 2-73%: wider than 50 points
    colchicine = page.find("details", attrs={"data-option": "colchicine"})
    text = " ".join(colchicine.find(class_="response").get_text().split())
    assert "complete response in 1 of 7 patients" in text and "very uncertain" not in text
    topic = page.find("details", attrs={"data-option": "sodium-thiosulfate-topical"})
    lines = [li.get_text() for li in topic.select(".evidence-lines li")]
    assert any("53 of 53 lesions" in line for line in lines)
    assert any("0 of 5 patients" in line for line in lines)
    treatment = soup(client, "/treatments/diltiazem")
    text = " ".join(treatment.find(class_="pooled").get_text().split())
    assert text.startswith("12 of 38 patients responded (any response) across 3 studies")
    assert "no complete responses reported" in text and "k = 3" in text


def test_a_weight_gives_a_dose_for_this_patient(client: TestClient) -> None:
    """Diltiazem 2 to 4 mg/kg per day for 62 kg, by hand: 124 to 248 mg per day."""
    page = soup(client, "/?" + urlencode([*SSC, ("weight_kg", "62")]))
    diltiazem = page.find("details", attrs={"data-option": "diltiazem"})
    starting = diltiazem.select(".regimens-starting li")
    assert starting[0].get_text().startswith("240 mg per day")  # the adult dose first
    dose = " ".join(starting[1].find(class_="dose").get_text().split())
    assert "For this patient: 124 to 248 mg per day" in dose
    assert "2 mg/kg × 62 kg = 124 mg; 4 mg/kg × 62 kg = 248 mg" in dose
    assert "the source's figure: 2 to 4 mg/kg per day" in dose
    reported = [li.get_text() for li in diltiazem.select(".regimens-reported li")]
    assert any("up to 480 mg per day" in r for r in reported)
    headings = [ul.find_previous_sibling("h4").get_text() for ul in diltiazem.select("ul.regimens")]
    assert headings[:2] == ["Starting regimen the sources give", "As reported in studies"]
    assumptions = page.select_one(".assumptions").get_text()
    assert "Weight not given" not in assumptions
    # without a weight, the plan says what it could not work out
    page = soup(client, "/?" + urlencode(SSC))
    assert "Weight not given" in page.select_one(".assumptions").get_text()
    assert "Enter the weight" in page.find("details", attrs={"data-option": "diltiazem"}).get_text()
    soup(client, "/?" + urlencode([*SSC, ("weight_kg", "-3")]), 422)


def test_the_form_asks_what_changes_the_plan_first_in_words(
    client: TestClient, kb: KnowledgeBase
) -> None:
    page = soup(client, "/")
    first = page.select_one("form fieldset")
    names = [c["name"] for c in first.find_all(["input", "select"])]
    assert names[:2] == ["subtype", "age_years"]
    assert {"underlying_disease", "disease_controlled", "symptomatic"} <= set(names)
    assert {"lesions_distribution", "lesions_largest_cm", "lesions_count"} <= set(names)
    assert "medications" not in names and "conditions" not in names  # under "more details"
    for required in page.select("[required]"):
        label = page.find("label", attrs={"for": required["id"]}).get_text()
        assert "(required)" in label and required["aria-required"] == "true"
    disease = [o.get_text() for o in page.select("#underlying_disease option")]
    assert "Systemic sclerosis" in disease and "systemic-sclerosis" not in disease
    words = [
        lab.get_text().strip()
        for lab in page.select("label.check")
        if lab.find("input", attrs={"name": "conditions"})
    ]
    assert "Cardiac conduction abnormality" in words
    medications = [i["value"] for i in page.select("#medication-list input")]
    assert "warfarin" in medications and "diltiazem" in medications
    assert all(kb.treatments[m].kind == "drug" for m in medications)  # no procedures
    assert "surgical-excision" not in medications
    assert page.find("input", id="medication-filter")["aria-controls"] == "medication-list"


def test_disease_control_is_asked_plainly_and_old_links_still_work(client: TestClient) -> None:
    base = [
        ("subtype", "dystrophic"),
        ("age_years", "40"),
        ("underlying_disease", "dermatomyositis"),
    ]
    page = soup(client, "/?" + urlencode([*base, ("disease_controlled", "no")]))
    assert options(page, "first-line")[0] == "treat-underlying-disease"
    page = soup(client, "/?" + urlencode([*base, ("disease_controlled", "yes")]))
    assert "treat-underlying-disease" not in options(page, "first-line")
    page = soup(client, "/?" + urlencode([*base, ("disease_active", "yes")]))  # a CDS card link
    assert options(page, "first-line")[0] == "treat-underlying-disease"
    chosen = page.select_one("#disease_controlled option[selected]")
    assert chosen["value"] == "no"


def test_the_handout_speaks_plainly_from_the_same_plan(client: TestClient) -> None:
    page = soup(client, "/handout?" + urlencode(SSC))
    text = " ".join(page.get_text().split())
    assert "deposits of calcium in the skin" in text
    assert "To start with (your clinician will tell you which of these apply to you)" in text
    assert [h.get_text() for h in page.select("h3")] == [
        "Intralesional sodium thiosulfate",
        "Topical sodium thiosulfate",
    ]
    assert "It is injected into the lesions." in text
    assert "Improvement may be evident within one to four treatments." in text
    assert "Warfarin does not treat calcinosis" in text and "do not stop it" in text
    assert "Ask your clinician when your next visit should be" in text
    assert page.find(class_="trace") is None and page.find("form") is None
    assert "(n=" not in text  # the sources' counts stay on the clinician's page
    assert len(page.select(".footnotes li")) >= 3


def test_treatment_page(client: TestClient, kb: KnowledgeBase) -> None:
    page = soup(client, "/treatments/rituximab")
    assert page.h1.get_text() == "Rituximab"
    rows = page.select("table.arms tbody tr")
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


def test_the_algorithm_diagram_shows_the_steps_a_plan_runs(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """For each subtype, the diagram's column and then its every-path row, and the page's
    list, are the steps a plan for that subtype runs, in the order the trace records them,
    each with what it does."""
    root = ET.fromstring(client.get("/algorithm.svg").content)  # noqa: S314 - our own SVG
    columns: dict[str, list[str]] = {}
    for group in root.iter(f"{SVG}g"):
        columns.setdefault(str(group.get("data-column")), []).append(str(group.get("data-step")))
        shown = " ".join(t.text or "" for t in group.iter(f"{SVG}text")).replace("- ", "-")
        what = (getattr(engine, str(group.get("data-step"))).__doc__ or "").strip()
        assert what and what[:30] in shown, shown  # each box says what its step does
    every_path = columns.pop("every-path")
    page = soup(client, "/algorithm")
    listed = {
        section.h2.get_text().lower(): [str(item["data-step"]) for item in section.select("li")]
        for section in page.select("main section")
    }
    for item in page.select("main section li"):  # each says its step in words, not its id
        assert item.strong.get_text() == str(item["data-step"]).replace("_", " ").capitalize()
        assert "_" not in item.get_text()
    assert sorted(columns) == sorted(listed) == sorted(SUBTYPES)
    for subtype in SUBTYPES:
        patient = parse_patient({"age_years": 50, "subtype": subtype}, kb.therapy_ids())
        ran = [entry.step for entry in recommend_document(patient, kb).trace]
        assert columns[subtype] + every_path == ran, subtype
        assert listed[subtype] == ran, subtype
    # the topic's two questions come first for dystrophic calcinosis; safety on every path
    assert columns["dystrophic"][:2] == ["assess_underlying_disease", "decide_whether_to_treat"]
    assert "enforce_safety" in every_path


def test_the_about_page_explains_the_scales_and_the_map_is_never_green(
    client: TestClient,
) -> None:
    page = soup(client, "/about")
    section = " ".join(page.find(id="strength").get_text().split())
    assert "2 = a weak recommendation ('we suggest'): suggested" in section
    assert "C = low-quality evidence: low certainty" in section
    assert "grade B = consistent level 2 or 3 studies" in section
    svg = client.get("/evidence/map.svg").text
    colours = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", svg)}
    rgb = [(int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)) for c in colours]
    greens = [(r, g, b) for r, g, b in rgb if g > r + 40 and g > b + 40]
    assert greens == []
    assert "#b2182b" in colours  # warfarin, IV sodium thiosulfate: recommended against
