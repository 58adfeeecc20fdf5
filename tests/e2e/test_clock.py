# SPDX-License-Identifier: Apache-2.0
"""Wall-clock steps under the running sidecar (`kagent-retention run --policy FILE`): libfaketime
(LD_PRELOAD, FAKETIME_TIMESTAMP_FILE re-read on every call) moves CLOCK_REALTIME of the sidecar
alone, forward 20 days and then back 40, as an NTP step or a fixed RTC would. As with a real
step, CLOCK_MONOTONIC is untouched (FAKETIME_DONT_FAKE_MONOTONIC=1) and so are the files'
timestamps (NO_FAKE_STAT=1: libfaketime would shift stat()'s mtimes, which the policy file's
change detection compares).

What must hold (API.md: ages are wall-clock instants; STYLE.md: timeouts use CLOCK_MONOTONIC):
  - the schedule is paced by CLOCK_MONOTONIC: after the forward step no burst (the next run
    comes one interval after the last, not at once), after the backward step no stall (again
    one interval, not 40 days); /healthz stays 200 (its heartbeat age is monotonic too);
  - every run judges ages by the wall clock at its start: the run after the forward step
    deletes exactly what a dry run of the database as it was, evaluated at that run's start
    time (`prune --dry-run --now`), selects (sessions 10-30 days old become 30-50); the run
    after the backward step deletes exactly its dry run's rows too (none: every remaining row,
    and a session written just before the step, now lies in the future and is active).
"""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.request

from kube_emulator.client import wait_until
from test_controller import BINARY
from common import free_port, go_time, wall_ms

FAKETIME_DIR = "/usr/lib/x86_64-linux-gnu/faketime"
FAKETIME = os.path.join(FAKETIME_DIR, "libfaketimeMT.so.1")
INTERVAL_S = 60
SLACK_S = 10.0  # a run observed late by the test's polling on a loaded machine
POLICY = {"spec": {"schedule": {"interval": "1m"}, "activeWindow": "1m",
                   "sessions": {"expireAfter": "30d"}}}


@unittest.skipUnless(os.path.exists(FAKETIME), "libfaketime is not installed")
class ClockJumpTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kr-e2e-clock-")
        self.db = os.path.join(self.work, "kagent.db")
        subprocess.run([BINARY, "datagen", "--sqlite-database-path", self.db, "--sessions", "300",
                        "--days", "60", "--seed", "21"], check=True, capture_output=True)
        self.policy = os.path.join(self.work, "policy.json")
        with open(self.policy, "w") as f:
            json.dump(POLICY, f)
        self.offset = os.path.join(self.work, "faketime")
        self.step("+0")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def step(self, offset):
        tmp = self.offset + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.rename(tmp, self.offset)

    def lines(self):
        out = []
        with open(self.log_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def runs(self):
        return [r for r in self.lines() if r.get("msg") == "prune run finished"]

    def wait_run(self, n, timeout):
        """Poll for the n-th run; returns (the run's log record, its monotonic start: when it
        was seen, less its duration, which the sidecar measures on CLOCK_MONOTONIC)."""
        wait_until(lambda: len(self.runs()) >= n or self.proc.poll() is not None, timeout,
                   interval=0.05, what="run %d" % n)
        self.assertIsNone(self.proc.poll(), "the sidecar exited")
        run = self.runs()[n - 1]
        return run, time.monotonic() - run["duration_ms"] / 1000.0

    def healthy(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.hport,
                                        timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def expected(self, snapshot, run):
        """Rows a dry run of 'snapshot' selects at the run's start (its log time is the
        sidecar's wall clock)."""
        start_ms = wall_ms(run["ts"]) - run["duration_ms"]
        p = subprocess.run([BINARY, "prune", "--policy", self.policy, "--dry-run", "-o", "json",
                            "--now", str(start_ms), "--sqlite-database-path", snapshot],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["rows"]

    def snapshot(self, name):
        path = os.path.join(self.work, name)
        src = sqlite3.connect(self.db)
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return path

    def test_steps_forward_and_back(self):
        self.hport = free_port()
        env = dict(os.environ, LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=self.offset,
                   FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1", NO_FAKE_STAT="1")
        # The sanitizer runtime wants to be first in the link order; libfaketime only
        # interposes clock functions, which ASan does not.
        env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"),
                                                   "verify_asan_link_order=0") if x)
        self.log_path = os.path.join(self.work, "sidecar.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [BINARY, "run", "--policy", self.policy, "--sqlite-database-path", self.db,
                 "--metrics-bind-address", "0", "--health-probe-bind-address",
                 "127.0.0.1:%d" % self.hport, "--volume-poll-ms", "300", "--reserve-bytes", "0"],
                env=env, stdout=log, stderr=log)
        run1, seen1 = self.wait_run(1, 60)
        self.assertEqual(run1["result"], "Succeeded")
        self.assertGreater(run1["rows"], 0)

        # Forward 20 days, right after the first run.
        before2 = self.snapshot("before2.db")
        self.step("+20d")
        wait_until(self.healthy, 10, what="/healthz after the forward step")
        run2, seen2 = self.wait_run(2, INTERVAL_S + SLACK_S)
        gap2 = seen2 - seen1
        exp2 = self.expected(before2, run2)

        # Back 40 days (20 before real time), right after the second run; then a session
        # written at real time lies 20 days in the sidecar's future.
        con = sqlite3.connect(self.db, timeout=5)
        now = go_time(time.time())
        with con:
            con.execute("INSERT INTO session(id, user_id, created_at, updated_at) VALUES "
                        "('clock-new', 'u', ?, ?)", (now, now))
        con.close()
        before3 = self.snapshot("before3.db")
        self.step("-20d")
        wait_until(self.healthy, 10, what="/healthz after the backward step")
        run3, seen3 = self.wait_run(3, INTERVAL_S + SLACK_S)
        gap3 = seen3 - seen2
        exp3 = self.expected(before3, run3)
        self.proc.terminate()
        rc = self.proc.wait(30)
        print("\nrun 1 (real time): %d rows; +20d: run 2 %.1f s later, %d rows (dry run at its "
              "start: %d); -40d: run 3 %.1f s later, %d rows (dry run: %d); runs in all %d; "
              "exit %d" % (run1["rows"], gap2, run2["rows"], exp2, gap3, run3["rows"], exp3,
                          len(self.runs()), rc))
        self.assertEqual(len(self.runs()), 3, "a burst of runs")
        self.assertGreaterEqual(gap2, INTERVAL_S - 5, "a run at once after the forward step")
        self.assertLessEqual(gap2, INTERVAL_S + SLACK_S)
        self.assertGreaterEqual(gap3, INTERVAL_S - 5)
        self.assertLessEqual(gap3, INTERVAL_S + SLACK_S, "the schedule stalled")
        self.assertEqual(run2["result"], "Succeeded")
        self.assertGreater(exp2, 0)
        self.assertEqual(run2["rows"], exp2)
        self.assertEqual(run3["result"], "Succeeded")
        self.assertEqual(run3["rows"], exp3)
        con = sqlite3.connect(self.db)
        try:
            self.assertEqual(con.execute("SELECT count(*) FROM session WHERE id = 'clock-new'"
                                         ).fetchone()[0], 1)
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            con.close()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
