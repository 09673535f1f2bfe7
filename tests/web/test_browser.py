"""Real-browser tests: Playwright drives Debian's Chromium against a real server.

The server is `calcinosis serve` in a second process on loopback, with its own
SQLite database. Without /usr/bin/chromium these tests skip, except in CI, where
that is a failure (scripts/test installs it). Screenshots of each page go to
$CALCINOSIS_SCREENSHOTS (default: the test's temporary directory).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
Serve = Callable[..., AbstractContextManager[str]]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI has no /usr/bin/chromium: scripts/test should install it", pytrace=False)
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, serve: Serve) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "db.sqlite"
    with serve({"CALCINOSIS_DATABASE_URL": f"sqlite:///{database}"}) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def console() -> list[str]:
    """Console errors of the page; a test that expects one removes it."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on(
        "console", lambda message: console.append(message.text) if message.type == "error" else None
    )
    tab.on("pageerror", lambda error: console.append(str(error)))
    yield tab
    context.close()
    assert console == []  # no script errors, no CSP violations, no missing resources


def _shot(page: Page, name: str) -> None:
    default = Path(tempfile.gettempdir()) / "calcinosis-screenshots"
    folder = Path(os.environ.get("CALCINOSIS_SCREENSHOTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _options(page: Page, stance: str) -> list[str]:
    locator = page.locator(f'section[data-stance="{stance}"] details')
    return [locator.nth(i).get_attribute("data-option") or "" for i in range(locator.count())]


def test_adult_ssc_with_digital_calcinosis_on_warfarin(server: str, page: Page) -> None:
    page.goto(server + "/")
    page.select_option("#subtype", "dystrophic")
    page.fill("#age_years", "58")
    page.select_option("#underlying_disease", "systemic-sclerosis")
    page.select_option("#disease_controlled", "yes")
    page.select_option("#symptomatic", "yes")
    page.fill("#lesions_largest_cm", "0.8")
    page.select_option("#lesions_distribution", "localized")
    page.click("details.more > summary")  # the rest is under "more details"
    page.select_option("#sex", "female")
    page.select_option("#lesions_digital", "yes")
    page.select_option("#raynaud", "yes")
    # the medication picker: type to find, then tick it from the keyboard
    page.fill("#medication-filter", "warf")
    expect(page.locator("#medication-count")).to_have_text("1 medication shown")
    expect(page.locator('#medication-list label[data-name="diltiazem"]')).to_be_hidden()
    page.focus('#medication-list input[value="warfarin"]')
    page.keyboard.press("Space")
    page.click("button[type=submit]")
    expect(page.locator("#plan-title")).to_contain_text("dystrophic")
    assert _options(page, "first-line") == [
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-topical",
    ]
    assert _options(page, "alternative")[0] == "diltiazem"
    assert {"warfarin", "infliximab"} <= set(_options(page, "avoid"))
    expect(page.locator("#summary .medication")).to_contain_text("Warfarin")
    expect(page.locator("#assessment")).not_to_have_attribute("open", "")  # folded away
    # an option expands to its evidence, regimen and citations
    diltiazem = page.locator('details[data-option="diltiazem"]')
    expect(diltiazem.locator(".reason")).to_be_visible()  # its reason, before any click
    diltiazem.locator("summary").click()
    expect(diltiazem.locator(".response")).to_contain_text(
        "Across 3 studies: 12 of 38 patients responded"
    )
    # one click opens the form again, as it was filled
    page.click("#assessment > summary")
    expect(page.locator("#age_years")).to_have_value("58")
    _shot(page, "assessment-ssc")
    # the share link opens the same plan
    page.click("#share-link")
    assert _options(page, "first-line") == [
        "sodium-thiosulfate-intralesional",
        "sodium-thiosulfate-topical",
    ]


def test_child_with_active_jdm_and_widespread_inflamed_lesions(server: str, page: Page) -> None:
    page.goto(server + "/")
    page.select_option("#subtype", "dystrophic")
    page.fill("#age_years", "7")
    page.select_option("#underlying_disease", "juvenile-dermatomyositis")
    page.select_option("#disease_controlled", "no")
    page.select_option("#symptomatic", "yes")
    page.select_option("#lesions_distribution", "widespread")
    page.click("details.more > summary")
    page.select_option("#inflammation", "yes")
    page.click("button[type=submit]")
    first = _options(page, "first-line")
    assert first[0] == "treat-underlying-disease"
    assert "colchicine" in first
    assert "minocycline" in _options(page, "avoid")
    assert "minocycline" not in first + _options(page, "alternative")
    _shot(page, "assessment-jdm-child")


def test_calciphylaxis_is_critical_and_the_form_adapts(server: str, page: Page) -> None:
    page.goto(server + "/")
    disease = page.locator("#underlying_disease")
    expect(disease).to_be_visible()
    page.select_option("#subtype", "calciphylaxis")
    expect(disease).to_be_hidden()  # fields appear as they become relevant
    page.fill("#age_years", "61")
    page.click("button[type=submit]")
    expect(page.locator(".critical")).to_be_visible()
    assert _options(page, "first-line") == ["calciphylaxis-care", "correct-calcium-phosphate"]
    _shot(page, "assessment-calciphylaxis")


def test_a_validation_message_sits_beside_the_field(
    server: str, page: Page, console: list[str]
) -> None:
    page.goto(server + "/")
    page.select_option("#subtype", "iatrogenic")
    page.fill("#age_years", "two")
    page.click("button[type=submit]")
    field = page.locator("#age_years")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#age_years-error")).to_contain_text("valid number")
    expect(page.locator("#plan")).to_have_count(0)
    # the page answers 422 on purpose (an invalid submission): Chromium logs that status
    assert console == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]
    console.clear()


@pytest.mark.parametrize("path", ["/evidence", "/algorithm", "/treatments/rituximab"])
def test_pages_render_with_their_pictures(server: str, page: Page, path: str) -> None:
    page.goto(server + path)
    for image in page.locator("img").all():
        width = image.evaluate("element => element.naturalWidth")
        assert width > 0, image.get_attribute("src")
    _shot(page, path.strip("/").replace("/", "-"))


def test_the_transparency_page_fits_a_phone(server: str, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/about")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#validation table tbody tr").count() >= 9
    _shot(page, "about-phone")


FILLED = (
    "/?subtype=dystrophic&age_years=58&sex=female&underlying_disease=systemic-sclerosis"
    "&disease_controlled=yes&symptomatic=yes&lesions_largest_cm=0.8"
    "&lesions_distribution=localized&lesions_digital=yes&raynaud=yes&medications=warfarin"
)
SIZES = [(1300, 800), (390, 844)]
PAGES = [
    "/",
    FILLED,
    FILLED.replace("/?", "/print?"),
    FILLED.replace("/?", "/handout?"),
    "/evidence",
    "/evidence/certainty",
    "/evidence/changes",
    "/treatments/diltiazem",
    "/treatments/rituximab",
    "/algorithm",
    "/about",
    "/ask?q=Should+warfarin+be+used+for+calcinosis",
]


def _inside_viewport(page: Page, selector: str, height: int) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    return box["y"]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_filled_link_shows_the_answer_in_the_first_screen(
    server: str, page: Page, width: int, height: int
) -> None:
    """What to start with, how strong, and what to avoid, without scrolling."""
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server + FILLED)
    assert page.evaluate("scrollY") == 0
    first = "#summary .row-first li .option-name"
    expect(page.locator(first).first).to_have_text("Intralesional sodium thiosulfate")
    y = _inside_viewport(page, first, height)
    _inside_viewport(page, "#summary .row-first li .strength", height)
    expect(page.locator("#summary .row-first li .strength").first).to_have_text(
        "low certainty, suggested"
    )
    _inside_viewport(page, "#summary .row-avoid li", height)
    expect(page.locator("#summary .row-avoid li").first).to_contain_text("do not use")
    print(f"\n{width}x{height}: first-line option at y={y:.0f}")
    _shot(page, f"summary-{width}x{height}")


@pytest.mark.parametrize("path", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(server: str, page: Page, path: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for table in page.locator("table").all():  # a wide table scrolls inside its own box
        assert table.evaluate("t => t.closest('.table-scroll, table.about') !== null")


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_serious_or_critical_violation(
    server: str, page: Page, path: str, width: int, height: int
) -> None:
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415 - browser tests only

    page.set_viewport_size({"width": width, "height": height})
    page.goto(server + path)
    violations = Axe().run(page).response["violations"]
    serious = [
        (v["id"], len(v["nodes"])) for v in violations if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_a_treatment_tried_without_a_response_is_refused_beside_it(
    server: str, page: Page, console: list[str]
) -> None:
    page.goto(server + "/")
    page.select_option("#subtype", "dystrophic")
    page.fill("#age_years", "58")
    page.click("details.more > summary")
    page.select_option("#prior_1_treatment", "sodium-thiosulfate-intralesional")
    page.click("button[type=submit]")
    response = page.locator("#prior_1_response")
    expect(response).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#prior_1_response-error")).to_contain_text("how did the patient respond")
    expect(page.locator("#prior_1_response-error")).to_be_visible()
    expect(page.locator("#plan")).to_have_count(0)
    assert console == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]
    console.clear()


def test_the_print_view_fits_one_page(server: str, page: Page) -> None:
    page.goto(server + FILLED.replace("/?", "/print?"))
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)  # page objects, not the /Pages tree
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"\nprint view: {len(pages)} A4 page(s), {height} px tall as printed")
    assert len(pages) == 1
