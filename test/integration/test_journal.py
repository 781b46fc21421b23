"""Native journal logging (SPEC.md "Reporting: Journal"): with JOURNAL_STREAM naming
stderr, records reach journald with SYSLOG_IDENTIFIER, PRIORITY and the CDP_* fields, and
nothing is written to stderr. Runs the hidden unit test "[.journal]" (test_journal.cpp)
against a private journald in its own mount namespace (FACTS.md)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = r"""
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/log && mount -t tmpfs tmpfs /run/log
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nRateLimitIntervalSec=0\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\n' > "$T/journald.conf"
mount --bind "$T/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald & J=$!
i=0; until [ -S /run/systemd/journal/socket ]; do i=$((i+1)); [ $i -lt 600 ] || exit 90; sleep 0.05; done
: > "$T/stderr"
rc=0
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/stderr") "$UNIT_TESTS" "[.journal]" > "$T/stdout" 2>> "$T/stderr" || rc=$?
journalctl --sync
journalctl -o json --no-pager SYSLOG_IDENTIFIER=ci-docker-prune > "$T/records.json"
kill $J; wait $J || true
exit $rc
"""


@pytest.fixture
def unit_tests(cdp_bin):
    path = Path(os.environ.get("CDP_UNIT_TESTS", Path(cdp_bin).parent / "unit-tests"))
    if not path.exists():
        pytest.fail(f"{path} not found: build the unit-tests target or set CDP_UNIT_TESTS")
    return path


def test_records_go_natively_to_the_journal(unit_tests, tmp_path):
    if os.geteuid() != 0 or not Path("/lib/systemd/systemd-journald").exists() or not shutil.which("unshare"):
        pytest.skip("needs root, systemd-journald and unshare")
    if not Path("/etc/systemd/journald.conf").exists():
        pytest.skip("needs /etc/systemd/journald.conf to bind-mount over")
    # Not the daemon's RUNTIME_DIRECTORY (conftest): journald would take it as its own.
    env = {k: v for k, v in os.environ.items() if k not in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY")}
    env.update(T=str(tmp_path), UNIT_TESTS=str(unit_tests))
    p = subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    stdout = (tmp_path / "stdout").read_text() if (tmp_path / "stdout").exists() else ""
    assert p.returncode == 0, (p.stdout, p.stderr, stdout)

    # Under the journal, nothing goes to stderr.
    assert (tmp_path / "stderr").read_text() == ""
    records = [json.loads(line) for line in (tmp_path / "records.json").read_text().splitlines()]
    by_message = {r["MESSAGE"]: r for r in records if isinstance(r.get("MESSAGE"), str)}

    assert not any("filtered" in m for m in by_message), by_message.keys()
    info = by_message["cdp-test plain info"]
    assert info["PRIORITY"] == "6"
    assert info["SYSLOG_IDENTIFIER"] == "ci-docker-prune"
    assert "CDP_EVENT" not in info

    event = by_message["cdp-test event with fields"]
    assert event["PRIORITY"] == "4"
    assert event["CDP_EVENT"] == "still_full"
    assert event["CDP_DISK_PERCENT"] == "91.5"
    assert event["MESSAGE_ID"] == "e7cea30e9fb54ec5bd9950e945aca9d8"
    assert "CODE_FILE" not in event  # would point into journal.cpp, not at the caller

    # A multi-line message stays one record, with its newline intact.
    assert by_message["cdp-test line one\nline two"]["PRIORITY"] == "3"
