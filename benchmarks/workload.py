"""The workload the load benchmarks share: patient profiles and questions that walk
the main paths (dystrophic adult and child, a safety rule, a past intolerance, the other
subtypes; dose, efficacy, comparison, first-line, age limit and adverse-effect questions)."""

from __future__ import annotations

PROFILES: list[dict[str, object]] = [
    {
        "age_years": 58,
        "sex": "female",
        "subtype": "dystrophic",
        "underlying_disease": "systemic-sclerosis",
        "symptomatic": True,
        "lesions": {"count": 3, "largest_cm": 0.8, "distribution": "localized", "digital": True},
        "raynaud": True,
        "medications": ["warfarin"],
    },
    {
        "age_years": 7,
        "subtype": "dystrophic",
        "underlying_disease": "juvenile-dermatomyositis",
        "disease_active": True,
        "symptomatic": True,
        "lesions": {"count": 25, "distribution": "widespread"},
        "inflammation": True,
    },
    {
        "age_years": 45,
        "subtype": "dystrophic",
        "underlying_disease": "dermatomyositis",
        "symptomatic": True,
        "conditions": ["cardiac-conduction-abnormality"],
        "prior_treatments": [{"treatment": "colchicine", "response": "intolerant"}],
    },
    {"age_years": 61, "subtype": "calciphylaxis", "conditions": ["end-stage-kidney-disease"]},
    {"age_years": 70, "subtype": "metastatic", "conditions": ["chronic-kidney-disease"]},
    {"age_years": 33, "subtype": "idiopathic", "symptomatic": True, "patient_concerned": True},
]

QUESTIONS = [
    "What dose of diltiazem is used for calcinosis cutis?",
    "Does warfarin work for dystrophic calcinosis?",
    "Is intralesional sodium thiosulfate better than topical?",
    "What is first-line for calcinosis in systemic sclerosis?",
    "Can minocycline be given to a 7 year old?",
    "What are the adverse effects of bisphosphonates?",
]
