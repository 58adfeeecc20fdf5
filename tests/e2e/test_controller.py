# SPDX-License-Identifier: Apache-2.0
"""The sidecar (`kagent-retention run`) against the Kubernetes API emulator and the real kubectl:
a RetentionPolicy applied with kubectl is picked up and pruned, its status and Events written,
edits trigger runs, and the controller recovers by itself from dropped watches, 410 Gone, an
API server that is down, and a rotated token; with --leader-elect exactly one replica prunes."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from common import REPO, SAMPLES
from kube_emulator.client import EmulatorProcess, wait_until

BINARY = os.environ.get("KR_BINARY") or os.path.join(REPO, "build", "cmd", "kagent-retention",
                                                     "kagent-retention")
DEFAULT = [p for p in SAMPLES if p.endswith("retentionpolicy-default.yaml")][0]
POD = "kagent-retention-e2e"
QUICK = os.environ.get("CI") == "true" or os.environ.get("KR_QUICK") == "1"


def rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT (SELECT count(*) FROM event) + (SELECT count(*) FROM session)"
                           ).fetchone()[0]
    finally:
        con.close()


VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99"]


class Sidecar:
    def __init__(self, emu, workdir, name, db, kubeconfig=None, extra=(), wrapper=()):
        self.log_path = os.path.join(workdir, name + ".log")
        env = dict(os.environ, POD_NAME=POD, POD_NAMESPACE="kagent")
        env.pop("KUBECONFIG", None)
        args = list(wrapper) + [BINARY, "run", "--kubeconfig", kubeconfig or emu.kubeconfig,
                "--sqlite-database-path", db, "--metrics-bind-address", "0",
                "--health-probe-bind-address", "0", "--volume-poll-ms", "300",
                "--reserve-bytes", "0"] + list(extra)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log)

    def lines(self):
        out = []
        with open(self.log_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def count(self, msg):
        return sum(1 for r in self.lines() if r.get("msg") == msg)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class ControllerTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kr-e2e-")
        self.emu = EmulatorProcess().start()
        self.sidecars = []
        self.db = self.datagen("kagent.db")
        # The sidecar's own Pod: its database volume is an emptyDir of 64Mi.
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": POD, "namespace": "kagent"},
               "spec": {"containers": [
                   {"name": "controller", "image": "kagent",
                    "volumeMounts": [{"name": "sqlite-volume", "mountPath": self.work}]},
                   {"name": "retention", "image": "kagent-retention",
                    "volumeMounts": [{"name": "sqlite-volume", "mountPath": self.work}]}],
                   "volumes": [{"name": "sqlite-volume",
                                "emptyDir": {"sizeLimit": "64Mi", "medium": "Memory"}}]}}
        path = os.path.join(self.work, "pod.json")
        with open(path, "w") as f:
            json.dump(pod, f)
        self.k("apply", "-f", path, check=True)

    def tearDown(self):
        for s in self.sidecars:
            s.stop()
        self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def datagen(self, name):
        db = os.path.join(self.work, name)
        subprocess.run([BINARY, "datagen", "--sqlite-database-path", db, "--sessions", "60",
                        "--days", "60", "--seed", "5"], check=True, capture_output=True)
        return db

    def k(self, *args, **kw):
        return self.emu.kubectl(*args, **kw)

    def sidecar(self, name="a", db=None, start_timeout=20, **kw):
        s = Sidecar(self.emu, self.work, name, db or self.db, **kw)
        self.sidecars.append(s)
        wait_until(lambda: s.count("started") == 1 or s.proc.poll() is not None, start_timeout,
                   what="sidecar start")
        self.assertIsNone(s.proc.poll(), open(s.log_path).read())
        return s

    def policy(self):
        code, obj = self.emu.request("GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/"
                                     "retentionpolicies/default")
        return obj if code == 200 else None

    def wait_status(self, pred, timeout=20, what="status"):
        def check():
            p = self.policy()
            return p is not None and pred(p.get("status") or {}, p)
        wait_until(check, timeout, what=what)
        return self.policy()

    def edit(self, active, kubeconfig=None):
        args = ["--kubeconfig", kubeconfig] if kubeconfig else []
        self.k(*args, "patch", "rp", "default", "--type=merge", "-p",
               json.dumps({"spec": {"activeWindow": active}}), check=True)
        return self.policy()["metadata"]["generation"]

    def test_01_apply_prunes_and_reports(self):
        s = self.sidecar()
        before = rows(self.db)
        t0 = time.monotonic()
        self.k("apply", "-f", DEFAULT, check=True)
        applied = time.monotonic()
        wait_until(lambda: "Succeeded" in self.k("get", "rp", "default").stdout, 20,
                   interval=0.05, what="kubectl get rp shows the run")
        latency = time.monotonic() - applied
        print("\napply -> `kubectl get rp` shows the run: %.2f s (apply itself %.2f s)"
              % (latency, applied - t0))
        self.assertLess(latency, 10.0)
        self.assertLess(rows(self.db), before)
        st = self.policy()["status"]
        self.assertEqual(st["observedGeneration"], 1)
        self.assertEqual(st["lastRun"]["result"], "Succeeded")
        self.assertTrue(st["lastRun"]["deleted"])
        self.assertEqual(st["database"]["type"], "sqlite")
        self.assertEqual(st["database"]["schema"], "gorm-sqlite")
        self.assertEqual(st["database"]["volumeLimitBytes"], 64 << 20)  # from the Pod
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Ready"]["status"], "True")
        self.assertEqual(conds["VolumePressure"]["status"], "False")
        self.assertEqual(conds["Degraded"]["status"], "False")
        d = self.k("describe", "rp", "default", check=True).stdout
        self.assertIn("PruneSucceeded", d)
        # Edit: a new generation is observed and run at once.
        runs = s.count("prune run finished")
        gen = self.edit("45m")
        self.assertEqual(gen, 2)
        self.wait_status(lambda st, p: st.get("observedGeneration") == 2, what="generation 2")
        wait_until(lambda: s.count("prune run finished") > runs, 10, what="a run on edit")
        # Conditions keep their transition time when their status does not change.
        conds2 = {c["type"]: c for c in self.policy()["status"]["conditions"]}
        self.assertEqual(conds2["Ready"]["lastTransitionTime"], conds["Ready"]["lastTransitionTime"])
        self.assertEqual(conds2["Ready"]["observedGeneration"], 2)
        # Deleted: monitor-only, nothing more is deleted.
        self.k("delete", "rp", "default", check=True)
        wait_until(lambda: any(r.get("msg") == "policy deleted: monitor-only" for r in s.lines()),
                   10, what="monitor-only after delete")
        self.assertEqual(s.stop(), 0)

    def test_02_recovers_from_watch_faults(self):
        s = self.sidecar()
        self.k("apply", "-f", DEFAULT, check=True)
        self.wait_status(lambda st, p: st.get("observedGeneration") == 1)
        # A dropped watch, then a compaction (410 Gone on resume), then a cut mid-event.
        for i, fault in enumerate([{"action": "dropWatches"}, {"action": "compact"},
                                   {"action": "cutWatch"}]):
            self.emu.fault(**fault)
            if fault["action"] == "compact":
                self.emu.fault(action="dropWatches")
            gen = self.edit("%dm" % (40 + i))
            self.wait_status(lambda st, p, g=gen: st.get("observedGeneration") == g, 30,
                             what="generation %d after %s" % (gen, fault["action"]))
        self.assertGreaterEqual(s.count("policy watch interrupted"), 1)
        self.assertEqual(s.stop(), 0)

    def test_03_api_down_then_back(self):
        s = self.sidecar()
        self.k("apply", "-f", DEFAULT, check=True)
        self.wait_status(lambda st, p: st.get("observedGeneration") == 1)
        down = 5 if QUICK else 30
        self.emu.fault(action="down", seconds=down)
        t0 = time.monotonic()
        # The sidecar keeps measuring while the API is away.
        wait_until(lambda: time.monotonic() - t0 > down + 1, down + 5, interval=0.5,
                   what="the outage")
        self.assertIsNone(s.proc.poll())
        gen = self.edit("50m")
        self.wait_status(lambda st, p: st.get("observedGeneration") == gen, 60,
                         what="status caught up after the outage")
        self.assertEqual(s.stop(), 0)

    def test_04_token_rotation(self):
        s = self.sidecar(kubeconfig=os.path.join(self.emu.dir, "kubeconfig-tokenfile"))
        self.k("apply", "-f", DEFAULT, check=True)
        self.wait_status(lambda st, p: st.get("observedGeneration") == 1)
        self.emu.fault(action="rotateToken", keepOld=False)
        self.emu.fault(action="dropWatches")
        # The old token is revoked: kubectl too must read the new one from the token file.
        gen = self.edit("35m", os.path.join(self.emu.dir, "kubeconfig-tokenfile"))
        self.wait_status(lambda st, p: st.get("observedGeneration") == gen, 30,
                         what="status after the token rotated")
        self.assertEqual(s.stop(), 0)

    def test_05_leader_election(self):
        db_b = self.datagen("b.db")
        before = {"a": rows(self.db), "b": rows(db_b)}
        a = self.sidecar("a", extra=["--leader-elect"])
        b = self.sidecar("b", db=db_b, extra=["--leader-elect"])
        self.k("apply", "-f", DEFAULT, check=True)
        self.wait_status(lambda st, p: st.get("lastRun", {}).get("result") == "Succeeded", 30)
        changed = {"a": rows(self.db) != before["a"], "b": rows(db_b) != before["b"]}
        self.assertEqual(sum(changed.values()), 1, changed)
        leader, other = (a, b) if changed["a"] else (b, a)
        self.assertEqual(other.count("prune run finished"), 0)
        # The holder renews with one PUT (client-go's fast path); the candidate reads every 2 s.
        seq = max([r["seq"] for r in self.emu.requests()] or [0])

        def lease_ops():
            ops = [r["verb"] for r in self.emu.requests(since=seq)
                   if r["seq"] > seq and r.get("resource") == "leases"]
            return ops.count("update"), ops.count("get")
        wait_until(lambda: lease_ops()[0] >= 4, 20, what="four renewals")
        updates, gets = lease_ops()
        self.assertLessEqual(gets, updates + 1, (updates, gets))
        # The leader goes away (releasing the Lease): the other takes over and prunes.
        other_db = db_b if leader is a else self.db
        other_rows = rows(other_db)
        self.assertEqual(leader.stop(), 0)
        wait_until(lambda: other.count("leadership acquired") == 1, 30, what="takeover")
        self.edit("40m")
        wait_until(lambda: rows(other_db) < other_rows, 30, what="the new leader prunes")
        self.assertEqual(other.stop(), 0)

    @unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
    @unittest.skipIf(os.environ.get("KR_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE"),
                     "a sanitizer build cannot run under valgrind")
    def test_06_valgrind(self):
        """The whole sidecar (Kubernetes thread, TLS, metrics server, a prune, status, Events,
        shutdown) under valgrind memcheck: no memory errors, no leaks."""
        s = self.sidecar(wrapper=VALGRIND, start_timeout=120,
                         extra=["--metrics-bind-address", "127.0.0.1:0"])
        self.k("apply", "-f", DEFAULT, check=True)
        self.wait_status(lambda st, p: st.get("lastRun", {}).get("result") == "Succeeded", 180,
                         what="a run under valgrind")
        self.assertEqual(s.stop(timeout=120), 0, open(s.log_path).read()[-3000:])
        log = open(s.log_path).read()
        self.assertIn("ERROR SUMMARY: 0 errors", log)


if __name__ == "__main__":
    unittest.main()
