"""The supervisor's choice of worker for each connection (``web/workers.py``), in this
process: real Unix channels and real descriptors, no server. The live behaviour, with
forked workers, is in ``test_serve_workers.py``."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from calcinosis.web.workers import _Closed, _Supervisor


@pytest.fixture
def channels() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(3)]
    yield pairs
    for pair in pairs:
        for end in pair:
            end.close()


def handed(theirs: socket.socket) -> list[int]:
    """The inodes of the connections waiting on a worker's end of its channel."""
    theirs.setblocking(False)
    inodes = []
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(theirs, 1, 8)
        except BlockingIOError:
            return inodes
        assert message == b"c" and len(fds) == 1
        inodes.append(os.fstat(fds[0]).st_ino)
        os.close(fds[0])


def connect_and_hand(supervisor: _Supervisor) -> int:
    """Hand one new connection over; its inode (the worker holds the same socket)."""
    ours, _client = socket.socketpair()
    inode = os.fstat(ours.fileno()).st_ino
    supervisor.hand_over(ours)
    assert ours.fileno() == -1  # the supervisor keeps no copy
    _client.close()
    return inode


def test_connections_go_to_the_least_busy_worker_and_in_turn_among_equals(
    channels: list[tuple[socket.socket, socket.socket]],
) -> None:
    closed = _Closed(3)
    supervisor = _Supervisor([], [ours for ours, _ in channels], closed.counts)
    sent = [connect_and_hand(supervisor) for _ in range(6)]
    got = [handed(theirs) for _, theirs in channels]
    assert got == [[sent[0], sent[3]], [sent[1], sent[4]], [sent[2], sent[5]]]
    closed.counts[1] += 2  # the second worker closed both of its connections
    closed.counts[2] += 1
    more = [connect_and_hand(supervisor) for _ in range(4)]
    # open: 2, 0, 1. The 1st to worker 2 (2, 1, 1; last 2); the 2nd: 2 and 3 hold one
    # each and 3 is next in turn (2, 1, 2); the 3rd to 2 (2, 2, 2); the 4th: all equal,
    # the next in turn after 2 is 3
    assert [supervisor.open_connections(n) for n in range(3)] == [2, 2, 3]
    got = [handed(theirs) for _, theirs in channels]
    assert got == [[], [more[0], more[2]], [more[1], more[3]]]


def test_a_worker_that_has_gone_gets_nothing_and_the_next_is_chosen(
    channels: list[tuple[socket.socket, socket.socket]],
) -> None:
    supervisor = _Supervisor([], [ours for ours, _ in channels], _Closed(3).counts)
    channels[0][1].close()  # the first worker ended
    sent = [connect_and_hand(supervisor) for _ in range(3)]
    assert supervisor.channels[0] is None
    assert [handed(theirs) for _, theirs in channels[1:]] == [[sent[0], sent[2]], [sent[1]]]
    assert supervisor.handed == [0, 2, 1]


def test_a_connection_no_worker_can_take_is_closed_not_kept(
    channels: list[tuple[socket.socket, socket.socket]],
) -> None:
    supervisor = _Supervisor([], [ours for ours, _ in channels], _Closed(3).counts)
    for _, theirs in channels:
        theirs.close()
    ours, client = socket.socketpair()
    supervisor.hand_over(ours)
    assert ours.fileno() == -1
    assert client.recv(1) == b""  # the client sees the end at once
    client.close()
