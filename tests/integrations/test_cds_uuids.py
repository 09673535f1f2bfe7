"""The cards' UUIDs (``services._uuids``): version-4 UUIDs from ``os.urandom``, read 4 KiB
at a time into a pool for each thread, never handed out twice, and not shared with a
forked child."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from calcinosis.integrations.cds import services


def test_uuids_are_version_4_and_all_different() -> None:
    made = [u for _ in range(600) for u in services._uuids(3)]  # several refills of the pool
    assert len(set(made)) == len(made) == 1800
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_the_pool_reads_4_kib_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counting(size: int) -> bytes:
        reads.append(size)
        return real(size)

    monkeypatch.setattr(services, "_pool", services._RandomPool())
    monkeypatch.setattr(os, "urandom", counting)
    taken = [services._random_bytes(16) for _ in range(512)]  # 8 KiB
    assert reads == [4096, 4096]
    assert len(set(taken)) == 512
    assert b"".join(taken[:256]) != b"".join(taken[256:])
    assert len(services._random_bytes(10_000)) == 10_000  # more than a pool: one read of it
    assert reads[-1] == 10_000


def test_each_thread_has_its_own_pool() -> None:
    seen: list[bytes] = []

    def take() -> None:
        seen.extend(services._random_bytes(16) for _ in range(100))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 400


def test_a_forked_child_does_not_reuse_the_parents_bytes() -> None:
    services._random_bytes(16)  # the pool holds unused bytes now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.write(write, services._random_bytes(64))
        finally:
            os._exit(0)
    os.close(write)
    from_child = os.read(read, 64)
    os.close(read)
    os.waitpid(child, 0)
    assert len(from_child) == 64
    assert from_child != services._random_bytes(64)  # the parent's next bytes
