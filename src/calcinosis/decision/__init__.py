"""The decision layer: the patient profile, the safety rules, the algorithm (engine) and
the plan it returns, with its options, grades, evidence lines and citations.

Knows the evidence layer below it; knows no page, card or question."""
