"""Speed of the recommendation engine.

Run: .venv/bin/python benchmarks/bench_engine.py
Prints: the latency of one plan in process (validation + algorithm + document),
the throughput of a batch on one core, and a whole `recommend --batch` process
on 5,000 profiles. Goals: p99 under 2 ms; at least 5,000 plans/s.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from calcinosis.decision.engine import recommend_document
from calcinosis.decision.patient import CONDITIONS, DISEASES, SUBTYPES, parse_patient
from calcinosis.evidence.knowledge_base import load_knowledge

SCRIPT = Path(sys.executable).parent / "calcinosis"


def profiles(count: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic test profiles, not security
    maybe = [None, True, False]
    drugs = [
        "warfarin",
        "diltiazem",
        "minocycline",
        "colchicine",
        "sodium-thiosulfate-topical",
        "infliximab",
        "rituximab",
    ]
    out = []
    for _ in range(count):
        data: dict[str, object] = {
            "age_years": round(rng.uniform(1, 90), 1),
            "subtype": rng.choice(SUBTYPES),
            "underlying_disease": rng.choice(DISEASES),
            "disease_active": rng.choice(maybe),
            "symptomatic": rng.choice(maybe),
            "inflammation": rng.choice(maybe),
            "lesions": {
                "largest_cm": round(rng.uniform(0.05, 4), 2),
                "distribution": rng.choice(["localized", "widespread"]),
            },
            "conditions": rng.sample(CONDITIONS, rng.randint(0, 2)),
            "medications": rng.sample(drugs, rng.randint(0, 2)),
            "prior_treatments": [
                {
                    "treatment": rng.choice(drugs),
                    "response": rng.choice(["none", "partial", "intolerant"]),
                }
                for _ in range(rng.randint(0, 2))
            ],
        }
        out.append({k: v for k, v in data.items() if v is not None})
    return out


def main() -> None:
    kb = load_knowledge()
    therapies = kb.therapy_ids()
    batch = profiles(5000)
    for data in batch[:200]:  # warm the caches (pooled evidence per treatment)
        recommend_document(parse_patient(data, therapies), kb)
    samples = []
    for data in batch:
        start = time.perf_counter()
        json.dumps(recommend_document(parse_patient(data, therapies), kb).model_dump())
        samples.append(time.perf_counter() - start)
    ordered = sorted(samples)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"one plan in process (validate + plan + JSON): median "
        f"{1000 * statistics.median(samples):.3f} ms, p99 {1000 * p99:.3f} ms, "
        f"max {1000 * ordered[-1]:.3f} ms (n={len(samples)})"
    )
    print(f"batch throughput on one core: {len(samples) / sum(samples):,.0f} plans/s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "patients.ndjson"
        path.write_text("\n".join(json.dumps(d) for d in batch) + "\n", encoding="utf-8")
        start = time.perf_counter()
        command = [str(SCRIPT), "recommend", "--batch", str(path)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our CLI
        elapsed = time.perf_counter() - start
    print(
        f"whole process `recommend --batch` of {len(batch)} profiles: {elapsed:.2f} s "
        f"({len(batch) / elapsed:,.0f} plans/s including start-up)"
    )


if __name__ == "__main__":
    main()
