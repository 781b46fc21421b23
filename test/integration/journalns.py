"""A standalone systemd-journald in its own mount namespace, for tests (FACTS: journald
standalone). Owns: the namespace's tmpfs on /run/systemd and /run/log, a journald.conf.d
drop-in there, the journald process. Processes started with spawn() log to it; their
stdout/stderr are a journal stream with JOURNAL_STREAM set as systemd sets it for a
service. Must not touch the host's journal or /etc.

Run as a script it is the in-namespace half: `journald` mounts and execs journald;
`stream-exec IDENT -- CMD...` connects stdout/stderr to journald and execs CMD.
"""
import json
import os
import socket
import subprocess
import sys
import time

JOURNALD = "/lib/systemd/systemd-journald"
CONF = "[Journal]\nStorage=volatile\nReadKMsg=no\nRateLimitIntervalSec=0\nForwardToSyslog=no\nForwardToWall=no\n"



def journald_env():
    """The environment without the daemon's RUNTIME_DIRECTORY/STATE_DIRECTORY (conftest sets
    them for every test): journald takes RUNTIME_DIRECTORY as its own and then never makes
    /run/systemd/journal/stdout (seen: every journal test timed out)."""
    return {k: v for k, v in os.environ.items() if k not in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY")}

class JournalNamespace:
    def __init__(self):
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=20):
        # unshare execs python which execs journald: the pid we hold is journald's, and
        # /proc/<pid>/root shows that namespace's view of the filesystem.
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", sys.executable, os.path.abspath(__file__), "journald"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=journald_env())
        stdout_sock = f"/proc/{self.proc.pid}/root/run/systemd/journal/stdout"
        deadline = time.monotonic() + timeout
        while not os.path.exists(stdout_sock):
            if self.proc.poll() is not None:
                raise RuntimeError(f"journald exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("journald did not create its stdout socket")
            time.sleep(0.05)
        return self

    def spawn(self, cmd, identifier, env=None, **kwargs):
        """Starts cmd inside the namespace, stdout+stderr connected to journald as a
        service's would be (JOURNAL_STREAM=<dev>:<ino> of that stream)."""
        return subprocess.Popen(
            ["nsenter", "-t", str(self.pid), "-m", "--", sys.executable, os.path.abspath(__file__),
             "stream-exec", identifier, "--", *cmd],
            env=env, stdin=subprocess.DEVNULL, **kwargs)

    def run(self, cmd, **kwargs):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "--", *cmd], **kwargs)

    def records(self):
        """Every record so far, as dicts (journalctl -o json), after a --sync."""
        self.run(["journalctl", "--sync"], check=True, capture_output=True, timeout=30)
        out = self.run(["journalctl", "-D", "/run/log/journal", "-o", "json", "--no-pager", "--all"],
                       check=True, capture_output=True, text=True, timeout=30).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _journald():
    for d in ("/run/systemd", "/run/log"):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
    os.makedirs("/run/systemd/journald.conf.d")
    with open("/run/systemd/journald.conf.d/test.conf", "w") as f:
        f.write(CONF)
    os.execv(JOURNALD, [JOURNALD])


def _stream_exec(identifier, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/systemd/journal/stdout")
    # The stdout-stream header (journald-stream.c): identifier, unit id, priority,
    # level prefix, forward to syslog, kmsg, console.
    s.sendall(f"{identifier}\n\n6\n1\n0\n0\n0\n".encode())
    s.shutdown(socket.SHUT_RD)
    os.dup2(s.fileno(), 1)
    os.dup2(s.fileno(), 2)
    s.close()
    st = os.fstat(2)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    if sys.argv[1] == "journald":
        _journald()
    elif sys.argv[1] == "stream-exec":
        _stream_exec(sys.argv[2], sys.argv[sys.argv.index("--") + 1:])
    else:
        sys.exit(f"usage: {sys.argv[0]} journald | stream-exec IDENT -- CMD...")
