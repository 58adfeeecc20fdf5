# SPDX-License-Identifier: Apache-2.0
"""The database locked by a long kagent transaction while the sidecar wants to prune: another
process holds a write transaction on the SQLite file (12 s; 30 s for the exclusive lock).

What the controller does (pkg/store, pkg/prune, pkg/controller) and therefore what must hold:
  - BEGIN IMMEDIATE (kagent's long write transaction: a RESERVED lock; readers go on): planning
    reads succeed; each batch's BEGIN IMMEDIATE waits the busy timeout (5 s) and is retried
    (-EBUSY, at most 20 times, pausing batch.pause + 50 ms * attempt). So the run waits and
    succeeds after the release: busy retries between 1 and ceil(HOLD_S / 5) + 1, no warn or
    error log line, no Warning Event, and it deletes everything it should.
  - BEGIN EXCLUSIVE (readers blocked too): every read waits the busy timeout and fails. The loop
    is one thread and each tick measures before it runs, so the policy's run starts at most two
    busy timeouts (+ the watch latency) after the edit; the run then waits two more (the
    data_version probe, which takes a failure for "others wrote", then planning's first read)
    and fails (Failed, one PruneFailed Event; the next run is an interval away). Hence the
    lock is held HOLD_EXCL_S = 30 s here. In HOLD_EXCL_S at most ceil(HOLD_EXCL_S / 5) operations can
    fail, each with at most one line (the volume polls' measurements warn). Bound: at most
    ceil(HOLD_EXCL_S / 5) + 1 warn/error lines, one failed run, one Warning Event (count 1). The
    next scheduled run, once the lock is gone, succeeds and deletes what it should; Ready and
    Degraded come back.
  In both cases the file passes integrity_check and the other transaction's row is there.
"""
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from common import wall_ms
from kube_emulator.client import EmulatorProcess, wait_until
from test_controller import BINARY, POD, Sidecar

HOLD_S = 12.0
HOLD_EXCL_S = 30.0
BUSY_TIMEOUT_S = 5.0  # the sidecar's default --busy-timeout
SLACK_S = 15.0
INTERVAL_S = 60
POLICY = {"apiVersion": "kagent.dev/v1alpha1", "kind": "RetentionPolicy",
          "metadata": {"name": "default", "namespace": "kagent"},
          "spec": {"schedule": {"interval": "1m"}, "activeWindow": "30m",
                   "sessions": {"expireAfter": "30d"}}}

# Another process, standing in for kagent: BEGIN <mode>, one write, hold, COMMIT. The hold is
# the fault being injected, not a synchronisation: the test polls for its output lines.
HOLDER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
con.execute("BEGIN " + sys.argv[2])
now = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime())
con.execute("INSERT INTO event(id, session_id, user_id, created_at, updated_at, data) "
            "VALUES ('lock-holder', 'lock-holder', 'u', ?, ?, '{}')", (now, now))
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
con.execute("COMMIT")
print("released", flush=True)
"""


class DatabaseLockTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kr-e2e-lock-")
        self.emu = EmulatorProcess().start()
        self.db = os.path.join(self.work, "kagent.db")
        subprocess.run([BINARY, "datagen", "--sqlite-database-path", self.db, "--sessions", "120",
                        "--days", "90", "--seed", "3"], check=True, capture_output=True)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": POD, "namespace": "kagent"},
               "spec": {"containers": [
                   {"name": "retention", "image": "kagent-retention",
                    "volumeMounts": [{"name": "sqlite-volume", "mountPath": self.work}]}],
                   "volumes": [{"name": "sqlite-volume",
                                "emptyDir": {"sizeLimit": "1Gi", "medium": "Memory"}}]}}
        code, out = self.emu.request("POST", "/api/v1/namespaces/kagent/pods", pod)
        self.assertEqual(code, 201, out)
        self.sidecar = None
        self.holder = None

    def tearDown(self):
        if self.holder and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()
        if self.sidecar:
            self.sidecar.stop()
        self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def start_sidecar(self):
        s = self.sidecar = Sidecar(self.emu, self.work, "lock", self.db)
        wait_until(lambda: s.count("started") == 1 or s.proc.poll() is not None, 30,
                   what="sidecar start")
        self.assertIsNone(s.proc.poll(), open(s.log_path).read())
        return s

    def hold(self, mode, seconds):
        out = os.path.join(self.work, "holder.out")
        self.holder_out = out
        self.holder = subprocess.Popen([sys.executable, "-c", HOLDER, self.db, mode,
                                        str(seconds)], stdout=open(out, "w"))
        wait_until(lambda: "locked" in open(out).read() or self.holder.poll() is not None, 30,
                   what="the lock")
        self.assertIsNone(self.holder.poll(), "the lock holder failed")

    def wait_released(self):
        self.assertEqual(self.holder.wait(HOLD_EXCL_S + 30), 0)
        self.assertIn("released", open(self.holder_out).read())
        return time.time()

    def runs(self):
        return [r for r in self.sidecar.lines() if r.get("msg") == "prune run finished"]

    def warning_events(self):
        code, out = self.emu.request("GET", "/api/v1/namespaces/kagent/events")
        self.assertEqual(code, 200, out)
        return [(e["reason"], e.get("count", 1)) for e in out["items"] if e["type"] == "Warning"]

    def noisy(self):
        return [r for r in self.sidecar.lines() if r.get("level") in ("warn", "error")]

    def assert_pruned_all(self, run):
        """The run deleted everything the policy selects as of its own start."""
        start_ms = wall_ms(run["ts"]) - run["duration_ms"]
        policy = os.path.join(self.work, "policy.json")
        with open(policy, "w") as f:
            json.dump(POLICY, f)
        p = subprocess.run([BINARY, "prune", "--policy", policy, "--dry-run", "-o", "json",
                            "--now", str(start_ms), "--sqlite-database-path", self.db],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["rows"], 0)

    def assert_intact(self):
        con = sqlite3.connect(self.db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(con.execute("SELECT count(*) FROM event WHERE id = 'lock-holder'"
                                         ).fetchone()[0], 1)
        finally:
            con.close()

    def test_immediate_lock_waits_and_succeeds(self):
        s = self.start_sidecar()
        self.hold("IMMEDIATE", HOLD_S)
        t_lock = time.time()
        self.emu.kubectl("apply", "-f", "-", input=json.dumps(POLICY), check=True)
        released = self.wait_released()
        wait_until(lambda: self.runs(), HOLD_S + 60, what="the run")
        run = self.runs()[0]
        retries_max = math.ceil(HOLD_S / BUSY_TIMEOUT_S) + 1
        print("\nIMMEDIATE lock held %.1f s after the policy: run %s, %d rows, %d busy retries "
              "(bound 1..%d), %.1f s; %d warn/error lines, Warning Events %s" % (
                  released - t_lock, run["result"], run["rows"], run["busy_retries"],
                  retries_max, run["duration_ms"] / 1000.0, len(self.noisy()),
                  self.warning_events()))
        self.assertEqual(run["result"], "Succeeded")
        self.assertGreater(run["rows"], 0)
        self.assertGreaterEqual(run["busy_retries"], 1)
        self.assertLessEqual(run["busy_retries"], retries_max)
        self.assertGreaterEqual(wall_ms(run["ts"]) / 1000.0, released - 1.0)
        self.assertEqual(len(self.runs()), 1)
        self.assertEqual(self.noisy(), [])
        self.assertEqual(self.warning_events(), [])
        self.assert_pruned_all(run)
        self.assert_intact()
        self.assertEqual(s.stop(), 0)

    def test_exclusive_lock_bounded_errors_then_recovers(self):
        s = self.start_sidecar()
        self.hold("EXCLUSIVE", HOLD_EXCL_S)
        t_lock = time.time()
        self.emu.kubectl("apply", "-f", "-", input=json.dumps(POLICY), check=True)
        released = self.wait_released()
        # Everything logged up to here (and the operations that were already waiting on the
        # lock when it went: at most one busy timeout more) belongs to the locked period.
        wait_until(lambda: self.runs(), BUSY_TIMEOUT_S + 30, what="the first run")
        during = self.noisy()
        first = self.runs()
        # The API thread posts the run's Event after the run is logged: wait for it (the next
        # run is INTERVAL_S away, so nothing else can post meanwhile).
        wait_until(self.warning_events, SLACK_S, interval=0.1, what="the run's Warning Event")
        events = self.warning_events()
        bound = math.ceil(HOLD_EXCL_S / BUSY_TIMEOUT_S) + 1
        print("\nEXCLUSIVE lock held %.1f s after the policy: %d warn/error lines (bound %d): "
              "%s; runs %s; Warning Events %s" % (
                  released - t_lock, len(during), bound,
                  sorted({r["msg"] for r in during}),
                  [(r["result"], r["rows"]) for r in first], events))
        self.assertLessEqual(len(during), bound)
        self.assertEqual(len(first), 1)
        self.assertLessEqual(sum(c for _, c in events), 1)
        self.assertEqual(first[0]["result"], "Failed", "the run did not meet the lock")
        self.assertEqual([r for r, _ in events], ["PruneFailed"])
        # The next scheduled run, an interval after the failed one, succeeds.
        wait_until(lambda: len(self.runs()) >= 2, INTERVAL_S + SLACK_S, interval=0.2,
                   what="the next scheduled run")
        run = self.runs()[1]
        gap = (wall_ms(run["ts"]) - run["duration_ms"] - wall_ms(first[0]["ts"]) +
               first[0]["duration_ms"]) / 1000.0
        print("next run %.1f s after the failed one: %s, %d rows" % (
            gap, run["result"], run["rows"]))
        self.assertLessEqual(gap, INTERVAL_S + SLACK_S)
        self.assertEqual(run["result"], "Succeeded")
        self.assertGreater(run["rows"], 0)
        self.assert_pruned_all(run)

        def ready():
            code, obj = self.emu.request("GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/"
                                         "retentionpolicies/default")
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            return conds.get("Ready") == "True" and conds.get("Degraded") == "False"
        wait_until(ready, 30, what="Ready=True, Degraded=False after the recovery")
        self.assertEqual(len(self.noisy()), len(during), "warnings after the lock was released")
        self.assert_intact()
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
