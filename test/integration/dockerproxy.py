"""A unix-socket proxy in front of a Docker engine's socket, owned by the tests (issue 7):
forwards every byte both ways, records each request line it sees, can hold requests back
(a slow Docker: `hold`, `release`), and can freeze the answers of /events connections (connection open, no bytes: a hung stream, which Docker
itself cannot be told apart from a quiet engine -- FACTS "Faults seen on a real engine").
Owns only its own threads and sockets."""
from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from pathlib import Path

_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.[01]\r?$", re.M)


class DockerProxy:
    def __init__(self, engine_socket: str):
        self.engine_socket = engine_socket
        # Short path: sun_path holds 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="cdp-px-", dir="/tmp")
        self.socket = str(Path(self.dir) / "docker.sock")
        self.host = "unix://" + self.socket
        self.requests: list[tuple[str, str]] = []  # (method, target), in arrival order
        self._lock = threading.Lock()
        self._frozen = threading.Event()
        self._closing = False
        self._conns: list[socket.socket] = []
        self._held: list[socket.socket] = []  # client sides of /events answers frozen so far
        self._hold: tuple[str, str] | None = None  # (method, target substring) held back
        self._released = threading.Event()
        self.holding: list[tuple[str, str]] = []  # requests waiting for release(), in order
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket)
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    # --- control -------------------------------------------------------------------
    def freeze_events(self):
        """From now on, /events answers are held back: nothing more reaches the client."""
        self._frozen.set()

    def thaw_events(self):
        """The hang ends the way a dead proxy or network path does: the frozen /events
        connections close (what they held is lost, as it would be); new ones flow."""
        self._frozen.clear()
        with self._lock:
            held, self._held = self._held, []
        for c in held:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def hold(self, method, contains):
        """From now on, requests `method` whose target contains `contains` are not forwarded
        until release(): the daemon sees a Docker that takes as long as the test wants."""
        with self._lock:
            self._released.clear()
            self._hold = (method, contains)

    def release(self):
        """Forwards the held requests and stops holding."""
        with self._lock:
            self._hold = None
        self._released.set()

    def sent(self, method=None, contains=""):
        """The recorded (method, target) pairs, filtered."""
        with self._lock:
            reqs = list(self.requests)
        return [(m, t) for m, t in reqs if (method is None or m == method) and contains in t]

    def prunes(self):
        return [t for m, t in self.sent("POST") if "/prune" in t]

    def close(self):
        self._closing = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        try:
            os.unlink(self.socket)
            os.rmdir(self.dir)
        except OSError:
            pass

    # --- forwarding ----------------------------------------------------------------
    def _accept(self):
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.engine_socket)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            state = {"events": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, client, upstream, state):
        """client -> engine, recording request lines."""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            held = False
            for m in _REQUEST_LINE.finditer(data):
                method, target = m.group(1).decode(), m.group(2).decode(errors="replace")
                if re.search(r"^(/v[0-9.]+)?/events", target):
                    state["events"] = True
                with self._lock:
                    self.requests.append((method, target))
                    if self._hold and method == self._hold[0] and self._hold[1] in target:
                        self.holding.append((method, target))
                        held = True
            if held:
                self._released.wait()
            try:
                upstream.sendall(data)
            except OSError:
                break
        for s in (upstream,):
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _down(self, upstream, client, state):
        """engine -> client; an /events answer is held back while frozen."""
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if state["events"] and self._frozen.is_set():
                with self._lock:
                    if client not in self._held:
                        self._held.append(client)
                continue  # swallowed: the client sees an open, silent connection
            try:
                client.sendall(data)
            except OSError:
                break
        if state["events"] and self._frozen.is_set():
            return  # keep the client's side open: a hung stream never ends either
        for s in (client, upstream):
            try:
                s.close()
            except OSError:
                pass
