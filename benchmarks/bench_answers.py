"""Speed of question answering, in process.

Run: .venv/bin/python benchmarks/bench_answers.py
Answers every question of tests/fixtures/questions.yaml (or a built-in list) many
times and prints p50/p99/max per question. Goal: p99 under 50 ms.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import yaml

from calcinosis.answers import answer_question
from calcinosis.evidence.knowledge_base import load_knowledge

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "questions.yaml"
FALLBACK = [
    "Should warfarin be used for calcinosis?",
    "What dose of diltiazem?",
    "First-line treatment in systemic sclerosis?",
    "Side effects of intralesional sodium thiosulfate?",
    "Can a 7-year-old take minocycline?",
    "What is the capital of France?",
]


def main() -> None:
    kb = load_knowledge()
    if QUESTIONS.exists():
        questions = [item["question"] for item in yaml.safe_load(QUESTIONS.read_text())]
    else:
        questions = FALLBACK
    start = time.perf_counter()
    for question in questions:  # first answers build the caches (index, pooled evidence)
        answer_question(question, kb)
    print(
        f"first pass over {len(questions)} questions (cold caches): "
        f"{time.perf_counter() - start:.2f} s"
    )
    samples = []
    for _ in range(20):
        for question in questions:
            begin = time.perf_counter()
            answer_question(question, kb)
            samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    p99 = samples[int(0.99 * (len(samples) - 1))]
    print(
        f"per question ({len(samples)} answers): median {statistics.median(samples):.2f} ms, "
        f"p99 {p99:.2f} ms, max {samples[-1]:.2f} ms"
    )
    print(f"goal (p99 < 50 ms): {'met' if p99 < 50 else 'missed'}")


if __name__ == "__main__":
    main()
