"""Forest plots of single-arm proportions and their random-effects pool.

Drawn with matplotlib's object API (``Figure`` + the Agg canvas), never pyplot, so
nothing touches global figure state and concurrent renders are safe. The only
global touched is ``rcParams`` for the SVG writer (hash salt, text as text), set
under one lock for the duration of ``savefig``: :func:`write_svg`, which every SVG
figure of the package (the forest plots, the evidence map) is written through.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from typing import Any, Literal, get_args

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Polygon, Rectangle
from matplotlib.text import Text

from calcinosis.errors import UnknownChoiceError
from calcinosis.stats.pooling import PoolResult, proportion_ci

__all__ = ["ForestFormat", "render_forest", "write_svg"]

ForestFormat = Literal["svg", "png"]

# Layout, in inches (x) and rows (y, downwards from the top).
_WIDTH = 10.5
_ROW = 0.27
_DPI = 150
_STUDY_X, _DESIGN_X, _EVENTS_X = 0.25, 2.55, 4.65  # _EVENTS_X and later: right edges
_PLOT_X0, _PLOT_X1 = 4.95, 7.45
_EST_X, _CI_X, _WEIGHT_X = 8.45, 9.65, 10.3
_FONT = "DejaVu Sans"  # bundled with matplotlib: identical metrics everywhere
_SIZE, _SMALL = 9.0, 7.5
_INK, _MUTED = "#1a1a1a", "#5f6368"
_SQUARE, _DIAMOND, _BAND = "#2b5c8a", "#17324d", "#9fb9d6"

_METHOD_NAMES = {
    "glmm": "binomial-normal GLMM, ML (Stijnen, Hamza & Özdemir 2010)",
    "dl": "inverse variance, DerSimonian–Laird (1986)",
    "reml": "inverse variance, REML",
    "pm": "inverse variance, Paule–Mandel (1982)",
}
_METHOD_SHORT = {"glmm": "GLMM", "dl": "DL", "reml": "REML", "pm": "PM"}
_SVG_LOCK = threading.Lock()  # rcParams are global: one SVG written at a time


def write_svg(figure: Figure, **savefig: Any) -> bytes:
    """``figure`` as SVG bytes: reproducible ids (a fixed hash salt), no date, text kept as
    text. ``rcParams`` are global, so the change is made under ``_SVG_LOCK``, here only."""
    buffer = io.BytesIO()
    with _SVG_LOCK, mpl.rc_context({"svg.hashsalt": "calcinosis", "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, **savefig)
    return buffer.getvalue()


def _pct(p: float) -> str:
    return f"{100.0 * p:.1f}"


def _interval(ci: tuple[float, float]) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


_MEASURE = RendererAgg(1, 1, _DPI)  # type: ignore[no-untyped-call]  # metrics only; fonts per thread


@functools.lru_cache(maxsize=4096)
def _width(text: str, size: float, weight: str) -> float:
    """Width in inches of one line of ``text`` in the plot font."""
    font = FontProperties(family=_FONT, size=size, weight=weight)
    metrics = _MEASURE.get_text_width_height_descent(text, font, ismath=False)  # type: ignore[no-untyped-call]
    return float(metrics[0]) / _DPI


def _ellipsize(text: str, width: float, size: float, weight: str) -> str:
    """``text``, or its longest prefix plus an ellipsis, that fits in ``width`` inches."""
    if _width(text, size, weight) <= width:
        return text
    lo, hi = 0, len(text)  # longest fitting prefix length, by bisection
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fits = _width(text[:mid].rstrip() + "…", size, weight) <= width
        lo, hi = (mid, hi) if fits else (lo, mid)
    return text[:lo].rstrip() + "…"


def _wrap(text: str, width: float, size: float, weight: str = "normal") -> list[str]:
    """Greedy word wrap to ``width`` inches (word widths summed, 2% margin for kerning)."""
    space = _width("a b", size, weight) - _width("ab", size, weight)
    lines: list[list[str]] = []
    used = 0.0
    for word in text.split():
        w = _width(word, size, weight)
        if lines and used + space + w <= 0.98 * width:
            lines[-1].append(word)
            used += space + w
        else:
            lines.append([word])
            used = w
    return [" ".join(line) for line in lines] or [""]


class _Canvas:
    """One forest plot: a single axes in (inches, rows) coordinates covering the figure."""

    def __init__(self, n_rows: float) -> None:
        self.fig = Figure(figsize=(_WIDTH, n_rows * _ROW), dpi=_DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0.0, _WIDTH)
        self.ax.set_ylim(n_rows, 0.0)
        self.ax.set_axis_off()

    @staticmethod
    def px(p: float) -> float:
        """Proportion (0-1) to x in inches."""
        return _PLOT_X0 + min(max(p, 0.0), 1.0) * (_PLOT_X1 - _PLOT_X0)

    def text(self, x: float, y: float, s: str, max_width: float | None = None, **kw: Any) -> Text:
        style: dict[str, Any] = {"fontsize": _SIZE, "fontfamily": _FONT, "color": _INK}
        style["va"] = "center"
        style |= kw
        if max_width is not None:
            s = _ellipsize(s, max_width, style["fontsize"], style.get("fontweight", "normal"))
        return self.ax.text(x, y, s, parse_math=False, **style)

    def hline(self, y: float, x0: float = 0.15, x1: float = _WIDTH - 0.15, **kw: Any) -> None:
        self.ax.plot([x0, x1], [y, y], color=kw.pop("color", _INK), lw=kw.pop("lw", 0.8), **kw)


def _study_rows(c: _Canvas, result: PoolResult, top: float) -> None:
    wmax = max(result.weights)
    max_side = 0.62 * _ROW * 72.0  # points
    for i, (s, w) in enumerate(zip(result.studies, result.weights, strict=True)):
        y = top + i
        ci = proportion_ci(s.x, s.n, "wilson", result.level)
        c.text(_STUDY_X, y, s.label, max_width=_DESIGN_X - _STUDY_X - 0.15)
        c.text(_DESIGN_X, y, s.design, max_width=_EVENTS_X - _DESIGN_X - 0.75, color=_MUTED)
        c.text(_EVENTS_X, y, f"{s.x}/{s.n}", ha="right")
        c.ax.plot([c.px(ci[0]), c.px(ci[1])], [y, y], color=_SQUARE, lw=1.1, zorder=2)
        side = max(3.5, max_side * math.sqrt(w / wmax))
        c.ax.scatter([c.px(s.x / s.n)], [y], s=side * side, marker="s", color=_SQUARE, zorder=3)
        c.text(_EST_X, y, _pct(s.x / s.n), ha="right")
        c.text(_CI_X, y, _interval(ci), ha="right")
        c.text(_WEIGHT_X, y, f"{w:.1f}%", ha="right", color=_MUTED)


def _pooled_rows(c: _Canvas, result: PoolResult, y: float) -> float:
    """Draw the pooled diamond and prediction interval; return the last row used."""
    bold: dict[str, Any] = {"fontweight": "bold"}
    if not result.pooled and result.method == "combined":
        c.text(_STUDY_X, y, "Combined count (not pooled)", fontstyle="italic", color=_MUTED)
        c.text(_EVENTS_X, y, f"{result.x}/{result.n}", ha="right", color=_MUTED)
        c.text(_EST_X, y, _pct(result.estimate), ha="right", color=_MUTED)
        c.text(_CI_X, y, _interval(result.ci), ha="right", color=_MUTED)
        return y
    if not result.pooled:
        c.text(_STUDY_X, y, "Single study: not pooled", fontstyle="italic", color=_MUTED)
        return y
    c.text(_STUDY_X, y, "Random-effects pool", **bold)
    c.text(_DESIGN_X, y, _METHOD_SHORT[result.method], color=_MUTED)
    c.text(_EVENTS_X, y, f"{result.x}/{result.n}", ha="right", **bold)
    lo, est, hi = c.px(result.ci[0]), c.px(result.estimate), c.px(result.ci[1])
    diamond = [(lo, y), (est, y - 0.34), (hi, y), (est, y + 0.34)]
    c.ax.add_patch(Polygon(diamond, closed=True, facecolor=_DIAMOND, edgecolor=_DIAMOND, zorder=3))
    c.text(_EST_X, y, _pct(result.estimate), ha="right", **bold)
    c.text(_CI_X, y, _interval(result.ci), ha="right", **bold)
    c.text(_WEIGHT_X, y, "100%", ha="right", color=_MUTED)
    if result.prediction_interval is None:
        return y
    y += 1.0
    pi = result.prediction_interval
    c.text(_STUDY_X, y, "Prediction interval", color=_MUTED)
    band = Rectangle((c.px(pi[0]), y - 0.11), c.px(pi[1]) - c.px(pi[0]), 0.22, zorder=2)
    band.set(facecolor=_BAND, edgecolor=_DIAMOND, linewidth=0.6)
    c.ax.add_patch(band)
    c.text(_CI_X, y, _interval(pi), ha="right", color=_MUTED)
    return y


def _axis(c: _Canvas, y: float, result: PoolResult, top: float) -> None:
    c.hline(y, _PLOT_X0, _PLOT_X1)
    for tick in range(0, 101, 20):
        x = c.px(tick / 100.0)
        c.ax.plot([x, x], [y, y + 0.22], color=_INK, lw=0.8)
        c.text(x, y + 0.62, str(tick), ha="center", fontsize=_SIZE - 0.5)
    c.text((_PLOT_X0 + _PLOT_X1) / 2.0, y + 1.45, "Proportion (%)", ha="center")
    if result.pooled:  # reference line at the pooled estimate
        x = c.px(result.estimate)
        c.ax.plot([x, x], [top - 0.6, y], color=_MUTED, lw=0.7, ls=(0, (3, 3)), zorder=1)


def _notes(result: PoolResult) -> tuple[str, list[str]]:
    """Heterogeneity line and footnotes."""
    level = f"{100.0 * result.level:g}%"
    if result.method == "combined":
        het = f"Heterogeneity: not estimable (k = {result.k}, {result.n} patients)."
        return het, [
            f"Every arm is at {_pct(result.estimate)}%: no random-effects estimate exists, and a "
            "continuity correction would invent responders no study saw. The combined count "
            f"is shown with its Wilson {level} interval; nothing is pooled."
        ]
    if not result.pooled or result.tau2 is None or result.i2 is None:
        het = f"Heterogeneity: not applicable (k = 1, {result.n} patients)."
        return het, [f"Single study shown with its Wilson {level} interval; nothing is pooled."]
    het = (
        f"Heterogeneity: τ² = {result.tau2:.3f} (logit scale), I² = {result.i2:.1f}%; "
        f"k = {result.k} studies, {result.n} patients."
    )
    notes = [
        f"Random-effects model: {_METHOD_NAMES[result.method]}; logit scale, back-transformed; "
        f"{level} CI (z). Study rows: observed proportion with Wilson {level} CI.",
    ]
    if result.prediction_interval is not None:
        notes.append(
            f"Prediction interval ({level}): the range expected for the true proportion in a "
            "new study, given the heterogeneity."
        )
    else:
        notes.append("No prediction interval: fewer than 3 studies.")
    if result.method == "glmm":
        notes.append(
            "Square area ∝ weight. GLMM weights are approximate, 1/(vᵢ + τ²) with logit "
            "variances vᵢ, for display only: the model fits the counts themselves."
        )
    else:
        notes.append(
            "Square area ∝ inverse-variance weight; 0.5 added to both cells of arms at 0% or "
            "100% (logit scale only)."
        )
    if result.method == "dl" and not result.converged:
        notes.append(
            "The binomial-normal GLMM has no finite estimate when every arm is at 0% or 100%: "
            "the DerSimonian–Laird result is shown instead."
        )
    elif not result.converged:
        notes.append("Warning: the estimator did not converge; interpret with caution.")
    return het, notes


def _figure(result: PoolResult, title: str) -> Figure:
    het, notes = _notes(result)
    usable = _WIDTH - 2 * _STUDY_X
    title_lines = _wrap(title, usable, 12, "bold")
    note_lines = [line for note in notes for line in _wrap(note, usable, _SMALL)]
    header = 0.9 + 1.05 * len(title_lines)
    top = header + 1.25  # first study row
    pooled = top + result.k + 0.6
    last = pooled + (1.0 if result.prediction_interval is not None else 0.0)
    axis_y = last + 0.9
    het_y = axis_y + 2.5
    n_rows = het_y + 0.9 + 0.72 * len(note_lines) + 0.5
    c = _Canvas(n_rows)
    for i, line in enumerate(title_lines):
        c.text(_STUDY_X, 0.8 + 1.05 * i, line, fontsize=12, fontweight="bold")
    bold: dict[str, Any] = {"fontweight": "bold"}
    c.text(_STUDY_X, header, "Study", **bold)
    c.text(_DESIGN_X, header, "Design", **bold)
    c.text(_EVENTS_X, header, "Events/N", ha="right", **bold)
    c.text(_EST_X, header, "Proportion", ha="right", **bold)
    c.text(_CI_X, header, f"{100.0 * result.level:g}% CI", ha="right", **bold)
    c.text(_WEIGHT_X, header, "Weight", ha="right", **bold)
    c.hline(header + 0.6)
    _study_rows(c, result, top)
    c.hline(top + result.k - 0.4, lw=0.5, color=_MUTED)
    _pooled_rows(c, result, pooled)
    _axis(c, axis_y, result, top)
    c.hline(het_y - 0.75, lw=0.5, color=_MUTED)
    c.text(_STUDY_X, het_y, het, max_width=_WIDTH - 0.4)
    for i, line in enumerate(note_lines):
        c.text(_STUDY_X, het_y + 0.9 + 0.72 * i, line, fontsize=_SMALL, color=_MUTED)
    return c.fig


def render_forest(result: PoolResult, title: str, fmt: ForestFormat) -> bytes:
    """Render a forest plot of ``result`` as SVG or PNG bytes.

    One row per study (label, design, x/n, proportion and Wilson interval, weight,
    a square sized by weight with its interval), the pooled diamond (a note instead
    for a single unpooled arm), the prediction interval, a heterogeneity line and
    footnotes on the method. Identical inputs give identical bytes.
    """
    if fmt not in get_args(ForestFormat):
        raise UnknownChoiceError("forest plot format", fmt, get_args(ForestFormat))
    fig = _figure(result, title)
    if fmt == "svg":
        # Text stays text (searchable, accessible); give viewers without DejaVu a close fallback.
        family = f"font-family: '{_FONT}'".encode()
        return write_svg(fig).replace(
            family, family + b", 'Bitstream Vera Sans', Verdana, sans-serif"
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()
