"""The HTTP protocol of `calcinosis serve` (``web/server.py``): uvicorn's httptools
protocol on uvloop, with a deadline for each request head and body, h11's 16 KiB bound
on an incomplete head, and a problem document for a head that cannot be parsed.

Each test talks raw HTTP over a socket to a real server started with short deadlines.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from calcinosis.settings import Settings
from calcinosis.web import server

HEAD_TIMEOUT = 2.0
BODY_TIMEOUT = 2.5
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    serve_process: Callable[..., AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]],
) -> Iterator[tuple[int, int]]:
    """(port, pid) of a server whose head deadline is 2 s and body deadline 2.5 s."""
    folder = tmp_path_factory.mktemp("http-protocol")
    env = {
        "CALCINOSIS_DATABASE_URL": f"sqlite:///{folder}/db.sqlite",
        "CALCINOSIS_HEADER_TIMEOUT": str(HEAD_TIMEOUT),
        "CALCINOSIS_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    with serve_process(env) as (base, process):
        yield int(base.rsplit(":", 1)[1]), process.pid


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _get(port: int, path: str = "/api/health", **headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answers(sock: socket.socket, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """``count`` answers read from ``sock`` (fewer if it closed first): status, headers,
    body, and when each was complete (time.monotonic)."""
    sock.settimeout(timeout)
    data = b""
    answers: list[dict[str, Any]] = []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = data[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            end = head_end + 4 + int(headers.get("content-length", "0"))
            if len(data) >= end:
                status = int(lines[0].split()[1])
                body = data[head_end + 4 : end]
                answers.append(
                    {"status": status, "headers": headers, "body": body, "at": time.monotonic()}
                )
                data = data[end:]
                continue
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionError):
            break
        if not chunk:
            break
        data += chunk
    return answers


def _closed(sock: socket.socket, timeout: float = 3.0) -> bool:
    """The server closed the connection (within ``timeout``), sending nothing more."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def _problem(answer: dict[str, Any], status: int) -> dict[str, Any]:
    assert answer["status"] == status, answer
    assert answer["headers"]["content-type"] == PROBLEM
    assert answer["headers"]["connection"] == "close"
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    document: dict[str, Any] = json.loads(answer["body"])
    assert document["status"] == status
    return document


# ------------------------------------------------------------------ the protocol
def test_serve_runs_the_deadline_protocol_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: configs.append(self.config))
    settings = Settings.from_env("127.0.0.1", 8000, {"CALCINOSIS_HEADER_TIMEOUT": "7"})
    server.run(object(), settings, [], "warning")  # type: ignore[arg-type]
    (config,) = configs
    assert isinstance(config.http, type)
    assert issubclass(config.http, server.DeadlineProtocol)
    assert issubclass(config.http, HttpToolsProtocol)
    assert config.http.header_timeout == 7.0 and config.http.body_timeout == 30.0
    assert config.loop == "uvloop"


def test_the_running_server_has_loaded_httptools_and_uvloop(served: tuple[int, int]) -> None:
    port, pid = served
    with _connect(port) as sock:
        sock.sendall(_get(port))
        assert _answers(sock, 1)[0]["status"] == 200
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    mapped = {Path(line.split()[-1]).parts[-2] for line in maps if line.endswith(".so")}
    assert "uvloop" in mapped
    assert "parser" in mapped  # httptools/parser/parser.*.so


# ------------------------------------------------------------------ head deadline
def test_a_slow_head_gets_408_and_is_closed_at_the_head_deadline(served: tuple[int, int]) -> None:
    port, _ = served
    with _connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1")
        time.sleep(1.0)
        sock.sendall(b":1\r\nX-More: a\r\n")  # data does not move the deadline
        (answer,) = _answers(sock, 1)
        document = _problem(answer, 408)
        assert document["detail"] == f"The request head was not complete within {HEAD_TIMEOUT:g} s."
        assert HEAD_TIMEOUT - 0.3 <= answer["at"] - started <= HEAD_TIMEOUT + 1.0
        assert _closed(sock)


def test_on_a_kept_alive_connection_the_head_deadline_runs_from_the_last_answer(
    served: tuple[int, int],
) -> None:
    port, _ = served
    with _connect(port) as sock:
        sock.sendall(_get(port))
        (first,) = _answers(sock, 1)
        assert first["status"] == 200 and "connection" not in first["headers"]
        time.sleep(1.0)
        sock.sendall(b"GET /api/health HTTP/1.1\r\n")
        (answer,) = _answers(sock, 1)
        _problem(answer, 408)
        assert HEAD_TIMEOUT - 0.3 <= answer["at"] - first["at"] <= HEAD_TIMEOUT + 1.0
        assert _closed(sock)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    served: tuple[int, int],
) -> None:
    port, _ = served
    with _connect(port) as sock:
        started = time.monotonic()
        assert _closed(sock, timeout=HEAD_TIMEOUT + 2)
        assert HEAD_TIMEOUT - 0.3 <= time.monotonic() - started <= HEAD_TIMEOUT + 1.0


def test_a_head_pipelined_behind_an_answer_gets_the_deadline_after_it(
    served: tuple[int, int],
) -> None:
    port, _ = served
    with _connect(port) as sock:
        sock.sendall(_get(port) + b"GET /api/health HTTP/1.1\r\nHost: 127")
        first, second = _answers(sock, 2)
        assert first["status"] == 200
        _problem(second, 408)
        assert HEAD_TIMEOUT - 0.3 <= second["at"] - first["at"] <= HEAD_TIMEOUT + 1.0
        assert _closed(sock)


def test_pipelined_requests_are_answered_in_order(served: tuple[int, int]) -> None:
    port, _ = served
    profile = json.dumps({"age_years": 50, "subtype": "dystrophic"}).encode()
    post = (
        f"POST /api/recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(profile)}\r\n\r\n"
    ).encode() + profile
    with _connect(port) as sock:
        sock.sendall(post + _get(port, "/api/about") + _get(port, "/nowhere") + _get(port))
        answers = _answers(sock, 4)
        assert [a["status"] for a in answers] == [200, 200, 404, 200]
        assert json.loads(answers[0]["body"])["subtype"] == "dystrophic"
        assert json.loads(answers[1]["body"])["name"] == "calcinosis"
        sock.sendall(_get(port))  # still open, and answering
        assert _answers(sock, 1)[0]["status"] == 200


# ------------------------------------------------------------------ body deadline
def test_a_slow_body_gets_408_and_is_closed_at_the_body_deadline(served: tuple[int, int]) -> None:
    port, _ = served
    head = (
        f"POST /api/recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    ).encode()
    with _connect(port) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for piece in (b'{"age', b'_years": 5', b"0, "):
            sock.sendall(piece)  # each piece moves nothing
            time.sleep(0.6)
        (answer,) = _answers(sock, 1)
        document = _problem(answer, 408)
        assert document["detail"] == f"The request body was not complete within {BODY_TIMEOUT:g} s."
        assert BODY_TIMEOUT - 0.3 <= answer["at"] - started <= BODY_TIMEOUT + 1.0
        assert _closed(sock)


def test_a_body_that_comes_in_time_is_answered(served: tuple[int, int]) -> None:
    port, _ = served
    body = json.dumps({"age_years": 50, "subtype": "dystrophic"}).encode()
    head = (
        f"POST /api/recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(port) as sock:
        sock.sendall(head)
        time.sleep(1.0)
        sock.sendall(body[:10])
        time.sleep(1.0)
        sock.sendall(body[10:])
        (answer,) = _answers(sock, 1)
        assert answer["status"] == 200
        time.sleep(BODY_TIMEOUT - 1.0)  # the body deadline is gone with the body
        sock.sendall(_get(port))
        assert _answers(sock, 1)[0]["status"] == 200


# ------------------------------------------------------------------ refused heads
@pytest.mark.parametrize(
    "pieces",
    [
        [b"GARBAGE\r\n\r\n"],
        [b"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n"],
        [b"GET / HTTP/1.1\r\nX: " + b"a" * 20_000],  # incomplete after 16 KiB
        [b"GET / HTTP/1.1\r\nX: " + b"a" * 9_000, b"a" * 9_000],  # the same, in two pieces
    ],
    ids=["not HTTP", "a header without a colon", "an endless head", "an endless head, twice"],
)
def test_a_head_that_cannot_be_parsed_is_a_400_problem(
    served: tuple[int, int], pieces: list[bytes]
) -> None:
    port, _ = served
    with _connect(port) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.2)
        (answer,) = _answers(sock, 1, timeout=HEAD_TIMEOUT - 0.5)  # before any deadline
        document = _problem(answer, 400)
        assert document == {
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "The request is not valid HTTP.",
        }
        assert _closed(sock)


def test_a_complete_head_of_17_kib_in_one_piece_is_answered(served: tuple[int, int]) -> None:
    """As with h11: the 16 KiB bound is on a head still incomplete."""
    port, _ = served
    with _connect(port) as sock:
        sock.sendall(_get(port, X_Padding="a" * 17_000))
        assert _answers(sock, 1)[0]["status"] == 200
        sock.sendall(_get(port, X_Padding="a" * 15_000)[:9_000])
        time.sleep(0.3)
        sock.sendall(_get(port, X_Padding="a" * 15_000)[9_000:])  # 15 KiB in two pieces
        assert _answers(sock, 1)[0]["status"] == 200


# ------------------------------------------------------------------ one write an answer
class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_and_its_body_go_out_in_one_write() -> None:
    loop = asyncio.new_event_loop()
    try:
        transport = _Transport()
        writes = server._OneWrite(transport, loop)  # type: ignore[arg-type]
        writes.write(b"head")
        assert transport.writes == []
        writes.write(b"body")
        assert transport.writes == [b"headbody"]
        writes.write(b"100 Continue")  # alone: out at the end of this turn of the loop
        assert transport.writes == [b"headbody"]
        loop.run_until_complete(asyncio.sleep(0))
        assert transport.writes == [b"headbody", b"100 Continue"]
        writes.write(b"last")
        writes.close()  # nothing held back when the connection closes
        assert transport.writes[-1] == b"last" and transport.closed and writes.is_closing()
    finally:
        loop.close()


def test_answers_arrive_whole_in_one_segment(served: tuple[int, int]) -> None:
    port, _ = served
    with _connect(port) as sock:
        for _ in range(5):
            sock.sendall(_get(port))
            data = sock.recv(65536)  # one read: head and body together
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line for line in head.split(b"\r\n") if line.startswith(b"content-length")
                ).split(b":")[1]
            )
            assert len(body) == length and json.loads(body)["status"] == "ok"
