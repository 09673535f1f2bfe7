"""Pictures the pages show: the evidence map and the algorithm diagram.

Both are generated, never drawn by hand: the map from the arms and their pooled
estimates, the diagram from the engine's own steps (``engine.STEPS`` and their
docstrings), so neither can drift from the code or the data.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from functools import cache

from calcinosis.decision.engine import FINAL, STEPS
from calcinosis.decision.strength import CEBM_GRADES
from calcinosis.evidence.derived import derived
from calcinosis.evidence.knowledge_base import KnowledgeBase
from calcinosis.evidence.synthesis import pool_document

__all__ = ["algorithm_svg", "evidence_map_svg", "step_title"]

# Colour says the certainty of a grade "for" (blues, darker = more certain); a treatment
# the review recommends against is red whatever its grade: never green for "do not use".
_GRADE_COLOURS = {"A": "#08306b", "B": "#2171b5", "C": "#6baed6", "D": "#9ecae1"}
_AGAINST = "#b2182b"


@derived
def evidence_map_svg(kb: KnowledgeBase) -> bytes:
    """One row per treatment: response (dot, 95% CI), patients (dot area), grade (colour)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - matplotlib
    from matplotlib.figure import Figure  # noqa: PLC0415 - (~0.3 s) only to draw the map

    from calcinosis.render.forest import write_svg  # noqa: PLC0415 - matplotlib too

    rows = []
    for row in kb.table4:
        for treatment in row.treatments:
            if not kb.arms_for([treatment]):
                continue
            doc = pool_document(kb, treatment)
            basis = "any"
            if doc.estimate is None:
                doc, basis = pool_document(kb, treatment, "complete"), "complete"
            if doc.estimate is not None and doc.ci is not None:  # both or neither
                figures = (doc.estimate, doc.ci[0], doc.ci[1])
                rows.append((figures, doc, basis, row, kb.treatments[treatment].name))
    rows.sort(key=lambda item: (item[0][0], item[1].n))
    figure = Figure(figsize=(9.5, 0.32 * len(rows) + 1.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = []
    for y, ((estimate, low, high), doc, basis, row, name) in enumerate(rows):
        colour = _AGAINST if row.direction == "against" else _GRADE_COLOURS[row.grade]
        axes.plot([100 * low, 100 * high], [y, y], color=colour, lw=1.6, alpha=0.8)
        axes.scatter(
            [100 * estimate],
            [y],
            s=12 + 9 * doc.n,
            color=colour,
            marker="X" if row.direction == "against" else "o",
            zorder=3,
            edgecolors="white",
            linewidths=0.5,
        )
        how = "pooled" if doc.pooled else ("combined" if doc.k > 1 else "one study")
        note = ", complete only" if basis == "complete" else ""
        labels.append(f"{name}  ({doc.k} st., {doc.n} pts, {how}{note})")
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.set_xlim(-3, 103)
    axes.set_ylim(-0.8, len(rows) - 0.2)
    axes.set_xlabel("Response (%), with 95% CI; dot area proportional to patients")
    axes.grid(axis="x", alpha=0.3)
    for grade, colour in _GRADE_COLOURS.items():
        axes.scatter([], [], color=colour, label=f"grade {grade} ({CEBM_GRADES[grade]} certainty)")
    axes.scatter([], [], color=_AGAINST, marker="X", label="recommended against: do not use")
    axes.legend(loc="lower right", fontsize=8, frameon=True)
    axes.set_title(
        "Evidence map: response, patients and grade of every treatment in the review", fontsize=10
    )
    return write_svg(figure, bbox_inches="tight")


def step_title(name: str) -> str:
    """What a step of the engine is called on the pages: its name in words
    ("assess_underlying_disease": "Assess underlying disease")."""
    return name.replace("_", " ").capitalize()


def _doc(step: object) -> str:
    text = getattr(step, "__doc__", None) or ""
    return text.strip().splitlines()[0] if text.strip() else ""


@cache
def algorithm_svg() -> bytes:
    """The decision algorithm, one column per subtype, drawn from ``engine.STEPS``."""
    box_w, box_h, gap, col_gap, top = 260, 74, 22, 30, 60
    columns = list(STEPS.items())
    width = len(columns) * (box_w + col_gap) + col_gap
    tallest = max(len([s for s in steps if s not in FINAL]) for _, steps in columns)
    final_top = top + tallest * (box_h + gap) + 30
    height = final_top + len(FINAL) * 40 + 40
    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(width),
        height=str(height),
        viewBox=f"0 0 {width} {height}",
        role="img",
    )
    ET.SubElement(svg, "title").text = "The calcinosis decision algorithm, from the engine's steps"
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(
        defs,
        "marker",
        id="arrow",
        markerWidth="8",
        markerHeight="8",
        refX="4",
        refY="4",
        orient="auto",
    )
    ET.SubElement(marker, "path", d="M0,0 L8,4 L0,8 z", fill="#555")
    for index, (subtype, steps) in enumerate(columns):
        x = col_gap + index * (box_w + col_gap)
        heading = ET.SubElement(
            svg,
            "text",
            x=str(x + box_w / 2),
            y="32",
            attrib={
                "text-anchor": "middle",
                "font-size": "16",
                "font-weight": "bold",
                "font-family": "sans-serif",
            },
        )
        heading.text = subtype.capitalize()
        own = [step for step in steps if step not in FINAL]
        for row, step in enumerate(own):
            y = top + row * (box_h + gap)
            group = ET.SubElement(
                svg,
                "g",
                attrib={"class": "step", "data-step": step.__name__, "data-column": subtype},
            )
            ET.SubElement(
                group,
                "rect",
                x=str(x),
                y=str(y),
                width=str(box_w),
                height=str(box_h),
                rx="8",
                fill="#eef3f8",
                stroke="#2c5d8a",
            )
            label = ET.SubElement(
                group,
                "text",
                x=str(x + 10),
                y=str(y + 20),
                attrib={"font-size": "13", "font-weight": "bold", "font-family": "sans-serif"},
            )
            label.text = step_title(step.__name__)
            for line_no, line in enumerate(textwrap.wrap(_doc(step), 40)[:3]):
                text = ET.SubElement(
                    group,
                    "text",
                    x=str(x + 10),
                    y=str(y + 38 + 14 * line_no),
                    attrib={"font-size": "11", "font-family": "sans-serif", "fill": "#333"},
                )
                text.text = line
            if row < len(own) - 1:
                ET.SubElement(
                    svg,
                    "line",
                    x1=str(x + box_w / 2),
                    y1=str(y + box_h),
                    x2=str(x + box_w / 2),
                    y2=str(y + box_h + gap - 2),
                    stroke="#555",
                    attrib={"marker-end": "url(#arrow)"},
                )
    caption = ET.SubElement(
        svg,
        "text",
        x=str(col_gap),
        y=str(final_top - 8),
        attrib={"font-size": "14", "font-weight": "bold", "font-family": "sans-serif"},
    )
    caption.text = "Then, on every path:"
    for row, step in enumerate(FINAL):
        y = final_top + row * 40
        group = ET.SubElement(
            svg,
            "g",
            attrib={"class": "step", "data-step": step.__name__, "data-column": "every-path"},
        )
        ET.SubElement(
            group,
            "rect",
            x=str(col_gap),
            y=str(y),
            width=str(width - 2 * col_gap),
            height="32",
            rx="6",
            fill="#fbeee6",
            stroke="#b35806",
        )
        text = ET.SubElement(
            group,
            "text",
            x=str(col_gap + 10),
            y=str(y + 21),
            attrib={"font-size": "12", "font-family": "sans-serif"},
        )
        text.text = f"{step_title(step.__name__)}: {_doc(step)}"
    return bytes(ET.tostring(svg, encoding="utf-8", xml_declaration=True))
