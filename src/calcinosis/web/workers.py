"""`calcinosis serve --workers N`: the port served by N processes forked from one.

The supervisor (the process that was started) accepts every connection and hands it,
over a Unix socket, to the worker that holds the fewest open connections (ties in
turn), so kept-alive connections are spread evenly: with one listening socket shared
by the workers, the first to wake accepts a whole burst, and one worker can hold 10 of
16 connections while the other holds 6, which sets the tail latency. A worker counts
the connections it has closed in memory it shares with the supervisor; the supervisor
counts those it handed over, so a burst is balanced before any worker has read one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import mmap
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

import uvicorn

from calcinosis.errors import CalcinosisError

__all__ = ["ForkRefusedError", "WorkerExitedError", "serve_workers"]

_HANDED = b"c"  # the one byte that carries a connection's descriptor
_BATCH = 64  # descriptors one receive takes at most


class ForkRefusedError(CalcinosisError):
    """The workers could not be forked safely (a thread was running: a bug)."""


class WorkerExitedError(CalcinosisError):
    """A worker process ended while the others were serving: all were stopped."""


class _Closed:
    """Per worker, how many handed connections it has closed: shared memory, one writer
    each (the worker, on its event loop), read by the supervisor."""

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 8 * workers)  # anonymous: shared with the children
        self.counts = memoryview(self._memory).cast("q")


def serve_workers(config: uvicorn.Config, sockets: list[socket.socket], workers: int) -> None:
    """Serve on ``sockets`` in ``workers`` processes forked from this one, which accepts
    the connections, hands each to the least busy worker, and supervises.

    Each worker inherits what this process loaded (the knowledge base, its indexes and
    the pooled evidence: shared, copy-on-write, and kept out of the collector's passes);
    it opens its own database connections and writer (the app's lifespan), so nothing
    with a thread is forked: a thread running here is refused (a bug). The replay check
    and the audit trail are the database's, shared by the workers.

    Stopping: SIGTERM or SIGINT here stops accepting and closes the pipe each worker
    watches, and each stops as on its own SIGTERM (it finishes its requests and writes
    its records); so does a worker whose supervisor died, even killed. A worker that
    ends while the others serve stops them all: :class:`WorkerExitedError`, one line,
    exit 2 (the service manager restarts the service; nothing goes on serving with fewer
    workers unseen). After a signal this process ends by that signal, as one worker does.
    """
    running = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if running:
        raise ForkRefusedError(
            f"cannot fork the workers: threads are running ({', '.join(running)})"
        )
    for sock in sockets:
        sock.listen(config.backlog)
        sock.setblocking(False)
    closed = _Closed(workers)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(workers)]
    stop_reader, stop_writer = os.pipe()
    stopping = _Once(stop_writer)  # closed once: its number may be reused after
    wake_reader, wake_writer = os.pipe()
    for fd in (wake_reader, wake_writer):
        os.set_blocking(fd, False)
    received: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        received.append(signum)
        stopping.close()

    handlers: dict[int, Callable[[int, Any], Any] | int] = {
        signal.SIGINT: stop,
        signal.SIGTERM: stop,
        signal.SIGCHLD: lambda _signum, _frame: None,  # only to wake the selector
    }
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    previous_wake = signal.set_wakeup_fd(wake_writer, warn_on_full_buffer=False)
    try:
        children = _fork(
            config,
            sockets,
            pairs=pairs,
            closed=closed.counts,
            stop=(stop_reader, stop_writer),
            wake=(wake_reader, wake_writer),
        )
        for _ours, theirs in pairs:
            theirs.close()
        os.close(stop_reader)
        supervisor = _Supervisor(sockets, [ours for ours, _theirs in pairs], closed.counts)
        failed = supervisor.run(children, wake_reader, stopping, received)
    finally:
        signal.set_wakeup_fd(previous_wake)
        stopping.close()
        for fd in (wake_reader, wake_writer):
            _close(fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in [*sockets, *(end for pair in pairs for end in pair)]:
            sock.close()
    if received:
        signal.raise_signal(received[0])  # end as a single process does after the signal
    if failed is not None:
        number, pid, status = failed
        raise WorkerExitedError(
            f"worker {number + 1} of {workers} (pid {pid}) {_exit_reason(status)}: "
            "the others were stopped"
        )


def _fork(
    config: uvicorn.Config,
    sockets: list[socket.socket],
    *,
    pairs: list[tuple[socket.socket, socket.socket]],
    closed: memoryview,
    stop: tuple[int, int],
    wake: tuple[int, int],
) -> dict[int, int]:
    """Fork the workers, each with its end of its channel and nothing else of the
    supervisor's: pid to worker number (0-based)."""
    children: dict[int, int] = {}
    for number in range(len(pairs)):
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            keep = pairs[number][1]
            for sock in [*sockets, *(end for pair in pairs for end in pair if end is not keep)]:
                sock.close()
            for fd in wake:
                os.close(fd)
            _worker(config, keep, closed=closed, number=number, stop=stop)
        children[pid] = number
    return children


class _Supervisor:
    """Accepts connections and hands each to the worker with the fewest open ones."""

    def __init__(
        self, sockets: list[socket.socket], channels: list[socket.socket], closed: memoryview
    ) -> None:
        self.sockets = sockets
        for channel in channels:
            channel.setblocking(False)
        self.channels: list[socket.socket | None] = list(channels)
        self.closed = closed
        self.handed = [0] * len(channels)  # connections handed to each worker
        self.last = -1  # the worker handed the last connection: ties go to the next

    def open_connections(self, number: int) -> int:
        return self.handed[number] - self.closed[number]

    def choose(self) -> list[tuple[int, socket.socket]]:
        """The live workers, least busy first; among equals, in turn after the last."""
        count = len(self.channels)
        order = [(self.last + 1 + step) % count for step in range(count)]
        live = [(n, channel) for n in order if (channel := self.channels[n]) is not None]
        return sorted(live, key=lambda worker: self.open_connections(worker[0]))  # stable

    def hand_over(self, conn: socket.socket) -> None:
        """Send ``conn`` to the least busy worker that takes it; close it here either way
        (the worker holds its own descriptor). No worker can take it: it is dropped."""
        with conn:
            for number, channel in self.choose():
                try:
                    socket.send_fds(channel, [_HANDED], [conn.fileno()])
                except BlockingIOError:  # that worker is not reading: try the next
                    continue
                except OSError:  # that worker has gone
                    self.channels[number] = None
                    continue
                self.handed[number] += 1
                self.last = number
                return

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of descriptors, or the client already left
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.05)  # let connections close before the next try
                return
            self.hand_over(conn)

    def run(
        self,
        children: dict[int, int],
        wake_reader: int,
        stopping: _Once,
        received: list[int],
    ) -> tuple[int, int, int] | None:
        """Serve until every worker has ended; the first one ending unasked (number, pid,
        wait status) stops the others."""
        selector = selectors.DefaultSelector()
        for listener in self.sockets:
            selector.register(listener, selectors.EVENT_READ, listener)
        selector.register(wake_reader, selectors.EVENT_READ, None)
        failed: tuple[int, int, int] | None = None
        accepting = True
        try:
            while children:
                for key, _events in selector.select():
                    if key.data is not None:
                        self.accept(key.data)
                    else:
                        with contextlib.suppress(OSError):
                            while os.read(wake_reader, 512):
                                pass
                for pid, status in _reaped():
                    number = children.pop(pid, None)
                    if number is None:  # pragma: no cover - not one of ours
                        continue
                    self.channels[number] = None
                    if not received and failed is None:
                        failed = (number, pid, status)
                        stopping.close()
                if accepting and (received or failed is not None):
                    accepting = False  # refuse new connections while the workers drain
                    for listener in self.sockets:
                        selector.unregister(listener)
                        listener.close()
        finally:
            selector.close()
        return failed


class _Once:
    """A descriptor closed at most once (by a signal handler or on the way out)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            _close(fd)


def _reaped() -> list[tuple[int, int]]:
    """The children that have ended since the last call: (pid, wait status)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _exit_reason(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"


class _HandedServer(uvicorn.Server):
    """uvicorn serving the connections its supervisor hands it, not a listening socket."""

    def __init__(
        self, config: uvicorn.Config, channel: socket.socket, closed: memoryview, number: int
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.closed = closed
        self.number = number
        self.connecting: set[asyncio.Task[Any]] = set()
        self.counted: type[asyncio.Protocol] = asyncio.Protocol  # set on startup

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listening socket
        if self.should_exit:  # pragma: no cover - uvicorn exits on a failed lifespan
            return
        base = self.config.http_protocol_class
        closed, number = self.closed, self.number

        def connection_lost(protocol: asyncio.Protocol, exc: Exception | None) -> None:
            try:
                base.connection_lost(protocol, exc)
            finally:
                closed[number] += 1

        self.counted = type(base.__name__, (base,), {"connection_lost": connection_lost})
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self.receive)

    def receive(self) -> None:
        """Serve each connection the supervisor handed over; its end closing is the end."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(self.channel, 1, _BATCH)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the supervisor has gone
                self.stop_receiving()
                self.should_exit = True
                return
            for fd in fds:
                task = loop.create_task(
                    loop.connect_accepted_socket(self.protocol, socket.socket(fileno=fd))
                )
                self.connecting.add(task)
                task.add_done_callback(self.connected)

    def protocol(self) -> asyncio.Protocol:
        """A connection's protocol, as uvicorn makes it for a connection it accepted."""
        made: asyncio.Protocol = self.counted(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return made

    def connected(self, task: asyncio.Task[Any]) -> None:
        self.connecting.discard(task)
        if task.cancelled() or task.exception() is not None:  # never served: not open
            self.closed[self.number] += 1

    def stop_receiving(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # already removed, or closed
            asyncio.get_running_loop().remove_reader(self.channel.fileno())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stop_receiving()
        await super().shutdown(sockets=sockets)


def _worker(
    config: uvicorn.Config,
    channel: socket.socket,
    *,
    closed: memoryview,
    number: int,
    stop: tuple[int, int],
) -> NoReturn:
    """One worker: uvicorn on the connections handed to it until a signal or the pipe
    closes."""
    code = 0
    stop_reader, stop_writer = stop
    try:
        os.close(stop_writer)  # only the supervisor holds it: its end is the pipe's end
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)  # uvicorn's own, then these: it re-raises
        server = _HandedServer(config, channel, closed, number)

        def watch() -> None:
            with contextlib.suppress(OSError):
                while os.read(stop_reader, 1):  # nothing is ever written: b"" is the end
                    pass
            server.should_exit = True

        threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
        server.run(sockets=[])
    except BaseException as exc:  # one line, never a traceback
        sys.stderr.write(f"calcinosis: worker {os.getpid()}: {type(exc).__name__}: {exc}\n")
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)
