"""A regimen given per kilogram or per square metre, worked out for one patient.

Only the figures a source gives are used (``models.DoseRate``: the low and high
figure of the regimen's own text); nothing is capped or extended, because no source
gives a maximum. The arithmetic is shown beside the result, so that the clinician can
check it against the source's figure:

- per kilogram: figure x weight (kg);
- per square metre: figure x body surface area, by the Mosteller formula
  (BSA in m2 = square root of height (cm) x weight (kg) / 3600), rounded to 0.01 m2
  before it is multiplied, as the arithmetic shows it.
"""

from __future__ import annotations

import math

from calcinosis.decision.documents import WorkedDose
from calcinosis.evidence.schemas import DoseRate

__all__ = ["body_surface_area", "worked_dose"]


def body_surface_area(weight_kg: float, height_cm: float) -> float:
    """Mosteller's body surface area in m2, rounded to 0.01 m2."""
    return round(math.sqrt(height_cm * weight_kg / 3600), 2)


def _amount(value: float, unit: str) -> str:
    """A dose as it is written: whole milligrams from 10 mg, else up to two decimals."""
    if unit == "mg" and value >= 10:
        return f"{round(value):d}"
    return f"{round(value, 2):g}"


def _number(value: float) -> str:
    return f"{value:g}"


def worked_dose(dose: DoseRate, weight_kg: float | None, height_cm: float | None) -> WorkedDose:
    """The dose for this patient, or what is missing to work it out (``needs``: None,
    "weight" or "weight and height")."""
    per_unit = "m²" if dose.per == "m2" else "kg"
    figure = f"{_number(dose.low)}"
    if dose.high is not None:
        figure += f" to {_number(dose.high)}"
    source_figure = f"{figure} {dose.unit}/{per_unit} {dose.interval}"
    if weight_kg is None or (dose.per == "m2" and height_cm is None):
        return WorkedDose(
            needs="weight" if dose.per == "kg" else "weight and height",
            source_figure=source_figure,
            amount=None,
            arithmetic=None,
            low=None,
            high=None,
            unit=dose.unit,
            interval=dose.interval,
            weight_kg=weight_kg,
            height_cm=height_cm,
            bsa_m2=None,
        )
    measure, shown, bsa = weight_kg, f"{_number(weight_kg)} kg", None
    if dose.per == "m2" and height_cm is not None:
        measure = bsa = body_surface_area(weight_kg, height_cm)
        shown = f"{measure:.2f} m²"
    figures = [dose.low] if dose.high is None else [dose.low, dose.high]
    amounts = [value * measure for value in figures]
    steps = [
        f"{_number(value)} {dose.unit}/{per_unit} × {shown} = {_amount(amount, dose.unit)} "
        f"{dose.unit}"
        for value, amount in zip(figures, amounts, strict=True)
    ]
    arithmetic = "; ".join(steps)
    if dose.per == "m2":
        arithmetic = (
            f"body surface area √({_number(height_cm or 0)} cm × {_number(weight_kg)} kg / "
            f"3600) = {shown} (Mosteller); " + arithmetic
        )
    text = " to ".join(_amount(amount, dose.unit) for amount in amounts)
    return WorkedDose(
        needs=None,
        source_figure=source_figure,
        amount=f"{text} {dose.unit} {dose.interval}",
        arithmetic=arithmetic,
        low=round(amounts[0], 4),
        high=round(amounts[1], 4) if len(amounts) > 1 else None,
        unit=dose.unit,
        interval=dose.interval,
        weight_kg=weight_kg,
        height_cm=height_cm,
        bsa_m2=bsa,
    )
