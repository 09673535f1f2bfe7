"""CDS Hooks patient-view round trips per second, with JWT verification on.

Run: .venv/bin/python benchmarks/bench_cds.py [--requests 2000] [--concurrency 12]
     [--port PORT] [--source REV]
Starts `calcinosis serve` (a second process, loopback only) trusting the CDS Hooks
specification's example issuer (its public ES384 key), pre-signs one fresh token per
request with the example private key (each with its own jti, so none is a replay),
then posts the SSc patient-view fixture (FHIR prefetch included) and prints
requests/s and latency percentiles. Goal: p99 under 50 ms (the specification
asks for answers on the order of 500 ms). ``--source REV`` first serves and loads the
code of git revision REV the same way (``git archive``, ``PYTHONPATH``), then the working
tree, and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).parent))
import bench_web  # the shared load machinery of the web benchmark

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "fixtures" / "cds-hooks"  # the specification's example issuer
FIXTURE = ROOT / "tests" / "fixtures" / "fhir" / "ssc_adult_warfarin_patient_view.json"
PATH = "/cds-services/calcinosis-patient-view"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--port", type=int, help="the server's port (default: any free one)")
    parser.add_argument("--source", help="git revision to measure first, in the same run")
    args = parser.parse_args()
    before = None
    if args.source:
        with tempfile.TemporaryDirectory(prefix="calcinosis-bench-cds-src-") as tmp:
            print(f"== code {args.source}")
            before = run(args, export(args.source, Path(tmp)))
        print("== working tree")
    phase = run(args, None)
    p99 = bench_web.percentile(phase.latencies_ms, 0.99)
    if before is not None:
        was = bench_web.percentile(before.latencies_ms, 0.99)
        print(
            f"{args.source}: {before.rps:,.0f} req/s, p99 {was:.1f} ms; working tree: "
            f"{phase.rps:,.0f} req/s, p99 {p99:.1f} ms ({phase.rps / before.rps:.2f}x the req/s)"
        )
    verdict = "met" if p99 < 50 and phase.errors == 0 else "missed"
    print(f"goal (p99 < 50 ms, no errors): {verdict} (p99 {p99:.1f} ms, {phase.rps:,.0f} req/s)")
    return 0 if verdict == "met" else 1


def export(revision: str, target: Path) -> Path:
    """``src`` of git revision ``revision`` under ``target``, byte-compiled."""
    archive = subprocess.run(  # noqa: S603 - git, with a revision the user gave
        ["git", "archive", revision, "src"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603, S607
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target / "src")], check=True)  # noqa: S603
    return target / "src"


def run(args: argparse.Namespace, source: Path | None) -> bench_web.Phase:
    """Serve the code of ``source`` (None: the working tree) and load it; the phase."""
    parts = json.loads((VECTORS / "jwt-example-parts.json").read_text(encoding="utf-8"))
    body = FIXTURE.read_bytes()
    port = args.port or bench_web.free_port()
    base = f"http://{bench_web.HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="calcinosis-bench-cds-") as tmp:
        issuers = Path(tmp) / "issuers.json"
        issuers.write_text(
            json.dumps(
                {"issuers": [{"iss": parts["payload"]["iss"], "jwks": parts["jwks_public"]}]}
            )
        )
        env = dict(os.environ) | {
            "CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp}/cds.db",
            "CALCINOSIS_PUBLIC_URL": base,
            "CALCINOSIS_CDS_ISSUERS": str(issuers),
        }
        if source is not None:  # the console script imports calcinosis from there first
            env["PYTHONPATH"] = str(source)
        command = [
            str(bench_web.SCRIPT),
            "serve",
            "--host",
            bench_web.HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)  # noqa: S603
        try:
            bench_web.wait_until_healthy(base, server, 60)
            key = jwt.PyJWK(parts["jwk_private"]).key
            total = args.requests + 100
            started = time.perf_counter()
            now = int(time.time())
            tokens = [
                jwt.encode(
                    {
                        "iss": parts["payload"]["iss"],
                        "aud": base + PATH,
                        "exp": now + 300,  # the longest lifetime the service accepts
                        "iat": now,
                        "jti": str(uuid.uuid4()),
                    },
                    key,
                    algorithm="ES384",
                    headers={"kid": "example-kid"},
                )
                for _ in range(total)
            ]
            print(
                f"signed {total} ES384 tokens in {time.perf_counter() - started:.2f} s "
                "(before the measured run)"
            )

            unused = iter(tokens)  # one token per request, warm-up included: never a replay

            async def send(client: bench_web.httpx2.AsyncClient, index: int) -> object:
                headers = {
                    "Authorization": f"Bearer {next(unused)}",
                    "Content-Type": "application/json",
                }
                return await client.post(PATH, content=body, headers=headers)

            phase = bench_web.measure(
                "POST /cds-services/calcinosis-patient-view (JWT ES384 verified)",
                base,
                server.pid,
                send,
                concurrency=args.concurrency,
                warmup=100,
                requests=args.requests,
                seconds=args.seconds,
            )
            bench_web.report(phase)
            rss = bench_web.proc_peak_rss_mib(server.pid)
            if rss is not None:
                print(f"server peak RSS: {rss:.0f} MiB")
        finally:
            bench_web.stop_server(server)
    return phase


if __name__ == "__main__":
    sys.exit(main())
