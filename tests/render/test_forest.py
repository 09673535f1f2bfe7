"""Tests for calcinosis.render.forest: valid, deterministic SVG and PNG for 1 to 12 studies."""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET

import matplotlib as mpl
import matplotlib.image
import pytest

from calcinosis.errors import UnknownChoiceError
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.render import forest
from calcinosis.render.charts import evidence_map_svg
from calcinosis.render.forest import render_forest
from calcinosis.stats.pooling import PoolResult, StudyCount, pool

SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SEVEN = [
    StudyCount("Balin 2012", 0, 3, "retrospective"),
    StudyCount("Mageau 2019", 1, 10, "prospective cohort"),
    StudyCount("Nguyen 2020", 3, 5, "case series"),
    StudyCount("Smith & Jones 2015 <IL>", 8, 12, "retrospective"),
    StudyCount("García 2018", 2, 2, "case report"),
    StudyCount("Baumgartner 2016", 6, 20, "open-label trial"),
    StudyCount("Lee 2021 ($5 dose)", 0, 4, "case series"),
]
TWELVE = [StudyCount(f"Author{i} {2000 + i}", i % 5, 5 + i, "case series") for i in range(12)]


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted XML
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def png_shape(png: bytes) -> tuple[int, ...]:
    assert png.startswith(PNG_MAGIC)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    return tuple(image.shape)


@pytest.fixture(scope="module")
def seven() -> PoolResult:
    return pool(SEVEN)


def test_svg_is_valid_and_shows_every_study(seven: PoolResult) -> None:
    texts = svg_texts(render_forest(seven, "Sodium thiosulfate: any response", "svg"))
    for study in SEVEN:
        assert study.label in texts  # special characters survive (&, <, $, accents)
        assert f"{study.x}/{study.n}" in texts
    assert "Sodium thiosulfate: any response" in texts
    assert "Random-effects pool" in texts
    assert "Prediction interval" in texts
    assert f"{100 * seven.estimate:.1f}" in texts
    assert any(t.startswith("Heterogeneity: τ² = ") for t in texts)
    assert any("GLMM weights are approximate" in t for t in texts)


def test_png_is_decodable(seven: PoolResult) -> None:
    height, width, channels = png_shape(render_forest(seven, "Title", "png"))
    assert width == 1575  # 10.5 in at 150 dpi
    assert 500 < height < 1200
    assert channels in (3, 4)


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_output_is_deterministic(seven: PoolResult, fmt: str) -> None:
    first = render_forest(seven, "Same input", fmt)  # type: ignore[arg-type]
    assert render_forest(seven, "Same input", fmt) == first  # type: ignore[arg-type]
    assert render_forest(pool(SEVEN), "Same input", fmt) == first  # type: ignore[arg-type]


def test_single_study_has_no_diamond() -> None:
    single = pool([StudyCount("Balin 2012", 4, 7, "retrospective")])
    texts = svg_texts(render_forest(single, "One arm", "svg"))
    assert "Balin 2012" in texts
    assert "Single study: not pooled" in texts
    assert "Random-effects pool" not in texts
    assert "Prediction interval" not in texts
    assert not any(t.startswith("Heterogeneity: τ²") for t in texts)
    png_shape(render_forest(single, "One arm", "png"))


def test_height_grows_with_the_number_of_studies(seven: PoolResult) -> None:
    twelve = pool(TWELVE)
    texts = svg_texts(render_forest(twelve, "Twelve arms", "svg"))
    assert all(s.label in texts for s in TWELVE)
    h1 = png_shape(render_forest(pool(SEVEN[:1]), "k", "png"))[0]
    h7 = png_shape(render_forest(seven, "k", "png"))[0]
    h12 = png_shape(render_forest(twelve, "k", "png"))[0]
    assert h1 < h7 < h12


def test_fallback_and_two_study_notes() -> None:
    zeros = pool([StudyCount("A", 0, 1), StudyCount("B", 0, 5), StudyCount("C", 0, 2)])
    texts = " ".join(svg_texts(render_forest(zeros, "No responders", "svg")))
    assert "Combined count (not pooled)" in texts
    assert "no random-effects estimate exists" in texts
    mixed = pool([StudyCount("A", 0, 1), StudyCount("B", 2, 2), StudyCount("C", 0, 3)])
    texts = " ".join(svg_texts(render_forest(mixed, "Zeros and hundreds", "svg")))
    assert "the DerSimonian–Laird result is shown instead" in texts
    two = pool([StudyCount("A", 1, 4), StudyCount("B", 3, 5)], "reml")
    texts = " ".join(svg_texts(render_forest(two, "Two arms", "svg")))
    assert "No prediction interval" in texts
    assert "REML" in texts


def test_long_labels_are_shortened_not_overlapping() -> None:
    long = "Aaronson-Wintergreen et al. 2019 (multicentre registry, adults and children)"
    res = pool([StudyCount(long, 3, 9, "retrospective cohort with matched controls"), *SEVEN])
    texts = svg_texts(render_forest(res, "Long labels " * 12, "svg"))
    shortened = [t for t in texts if t.startswith("Aaronson")]
    assert len(shortened) == 1
    assert shortened[0].endswith("…")
    assert len(shortened[0]) < len(long)


def test_renders_concurrently() -> None:
    res = pool(SEVEN)
    expected = {fmt: render_forest(res, "Threads", fmt) for fmt in ("svg", "png")}
    failures: list[str] = []

    def work(fmt: str) -> None:
        if render_forest(res, "Threads", fmt) != expected[fmt]:  # type: ignore[arg-type]
            failures.append(fmt)

    threads = [threading.Thread(target=work, args=(fmt,)) for fmt in ("svg", "png") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_unknown_format_is_rejected(seven: PoolResult) -> None:
    with pytest.raises(UnknownChoiceError, match="forest plot format"):
        render_forest(seven, "x", "pdf")  # type: ignore[arg-type]


class _RecordingLock:
    """Stands in for ``forest._SVG_LOCK``: records rcParams as it is let go."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = False
        self.salts: list[str] = []

    def __enter__(self) -> None:
        self.lock.acquire()
        self.held = True

    def __exit__(self, *_: object) -> None:
        self.salts.append(mpl.rcParams["svg.hashsalt"])
        self.held = False
        self.lock.release()


def test_every_svg_changes_rcparams_only_under_the_one_lock(
    seven: PoolResult, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forest plot and the evidence map both write SVG through ``forest.write_svg``:
    rcParams (global to the process) change only while the one lock is held."""
    lock = _RecordingLock()
    monkeypatch.setattr(forest, "_SVG_LOCK", lock)
    seen: list[tuple[bool, str]] = []
    real = mpl.rc_context

    def watched(rc: dict[str, object]) -> object:
        seen.append((lock.held, str(rc.get("svg.hashsalt"))))
        return real(rc)

    monkeypatch.setattr(mpl, "rc_context", watched)
    before = mpl.rcParams["svg.hashsalt"]
    render_forest(seven, "Locked", "svg")
    evidence_map_svg.__wrapped__(kb)  # uncached: draw it now
    assert seen == [(True, "calcinosis"), (True, "calcinosis")]
    assert lock.salts == [before, before]  # restored before the lock is let go
    assert mpl.rcParams["svg.hashsalt"] == before
