"""Shared for the web tests: a real `calcinosis serve` in a second process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

Environment = Mapping[str, str] | Callable[[str], Mapping[str, str]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server_process(
    env: Environment,
    *more: str,
    args: Sequence[str] = (),
    prefix: Sequence[str] = (),
    command: list[str] | None = None,
    log: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`calcinosis serve` on 127.0.0.1 with ``env`` added (or ``env(base_url)``) and
    ``more`` and ``args`` after its own, run under ``prefix`` (e.g. ``setpriv ...``);
    ``command`` runs instead of the console script (its arguments are followed by
    ``serve --port ...``); ``log`` receives the server's standard error. Yields its base
    URL and its process once it answers ``/api/health`` (any status: a server whose
    storage is degraded is up, and says so with a 503)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = env(base) if callable(env) else env
    script = Path(sys.executable).parent / "calcinosis"
    argv = [*(command or [str(script)]), "serve", "--port", str(port), "--log-level", "warning"]
    stderr = log.open("ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [*prefix, *argv, *more, *args],
        env=os.environ | dict(extra),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=1):  # noqa: S310
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still finishing a long request: stop it now
            process.kill()
            process.wait(timeout=10)
        if log is not None and not isinstance(stderr, int):
            stderr.close()


@contextmanager
def running_server(env: Environment) -> Iterator[str]:
    """`calcinosis serve` on 127.0.0.1 with ``env`` added (or ``env(base_url)``);
    yields its base URL."""
    with server_process(env) as (base, _process):
        yield base


@pytest.fixture(scope="session")
def serve() -> Callable[[Environment], AbstractContextManager[str]]:
    """A real server in a second process: ``with serve(env) as base_url: ...``."""
    return running_server


@pytest.fixture(scope="session")
def serve_process() -> Callable[..., AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]]:
    """A real server and its process: ``with serve_process(env, *args, log=...) as (url, p)``."""
    return server_process
