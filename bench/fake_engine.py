#!/usr/bin/python3
"""A fake Docker engine on a unix socket for bench/run.py: N services and M live
containers cloned from the captured fixtures (test/fixtures/*.json, dockerd 20.10), an
/events stream that stays open and silent, and prune endpoints that delete nothing. Must
not be used by tests (they run a real private dockerd). Serves each request on its own
thread, answers with Connection: close as dockerd does for the daemon's one-request
connections.

  fake_engine.py SOCKET --services 1000 --containers 10000 --root DIR
"""
from __future__ import annotations

import argparse
import copy
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

FIX = Path(__file__).resolve().parents[1] / "test" / "fixtures"


def build(services: int, containers: int, root: str) -> dict[str, bytes]:
    version = json.loads((FIX / "version.json").read_text())
    info = json.loads((FIX / "info.json").read_text())
    info["DockerRootDir"] = root
    svc_t = next(s for s in json.loads((FIX / "services.json").read_text()) if s.get("ServiceStatus"))
    cont_t = json.loads((FIX / "containers-live.json").read_text())[0]
    svcs = []
    for i in range(services):
        s = copy.deepcopy(svc_t)
        s["ID"] = f"svc{i:022d}"
        s["Spec"]["Name"] = f"stack{i % 50}_svc{i}"
        s["Spec"]["Labels"] = {"com.docker.stack.namespace": f"stack{i % 50}"}
        s["UpdateStatus"] = {"State": "completed"}
        s["ServiceStatus"] = {"RunningTasks": 1, "DesiredTasks": 1, "CompletedTasks": 0}
        s["Spec"]["Mode"] = {"Replicated": {"Replicas": 1}}
        svcs.append(s)
    conts = []
    for i in range(containers):
        c = copy.deepcopy(cont_t)
        c["Id"] = f"{i:064x}"
        c["Names"] = [f"/stack{i % 50}_svc{i % max(services, 1)}.1.{i:025d}"]
        c["State"] = "running"
        c["Labels"] = dict(c.get("Labels") or {}, **{"com.docker.stack.namespace": f"stack{i % 50}"})
        conts.append(c)
    return {
        "version": json.dumps(version).encode(),
        "info": json.dumps(info).encode(),
        "services": json.dumps(svcs).encode(),
        "containers": json.dumps(conts).encode(),
        "empty": b"[]",
        "prune_containers": b'{"ContainersDeleted":null,"SpaceReclaimed":0}',
        "prune_images": b'{"ImagesDeleted":null,"SpaceReclaimed":0}',
        "prune_build": b'{"CachesDeleted":null,"SpaceReclaimed":0}',
    }


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


def handler_for(bodies: dict[str, bytes], stop: threading.Event):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def address_string(self):
            return "unix"

        def send(self, body: bytes, status=200):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Api-Version", "1.41")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def route(self):
            p = self.path.split("?", 1)[0]
            if p.startswith("/v1."):
                p = "/" + p.split("/", 2)[2]
            return p

        def do_GET(self):
            p = self.route()
            if p in ("/version", "/_ping"):
                return self.send(bodies["version"])
            if p == "/info":
                return self.send(bodies["info"])
            if p == "/services":
                return self.send(bodies["services"])
            if p == "/containers/json":
                # The daemon lists live containers (a status filter); `all=1` lists for plan.
                return self.send(bodies["containers"])
            if p in ("/images/json", "/system/df"):
                return self.send(bodies["empty"] if p == "/images/json" else b'{"BuildCache":[]}')
            if p == "/events":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                stop.wait()
                self.close_connection = True
                return
            self.send(b'{"message":"not found"}', 404)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            p = self.route()
            key = {"/containers/prune": "prune_containers", "/images/prune": "prune_images",
                   "/build/prune": "prune_build"}.get(p)
            self.send(bodies[key] if key else b'{"message":"not found"}', 200 if key else 404)

    return H


def serve(sock: str, services: int, containers: int, root: str):
    """Starts the engine in a thread; returns (server, stop)."""
    stop = threading.Event()
    srv = Server(sock, handler_for(build(services, containers, root), stop))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, stop


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("socket")
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--containers", type=int, default=10000)
    ap.add_argument("--root", default="/tmp")
    a = ap.parse_args()
    srv, stop = serve(a.socket, a.services, a.containers, a.root)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stop.set()
        srv.shutdown()


if __name__ == "__main__":
    main()
