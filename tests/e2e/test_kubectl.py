# SPDX-License-Identifier: Apache-2.0
"""The real kubectl against the emulator: apply (client- and server-side), get (Table printer
columns), get -o yaml, describe (with Events), explain, delete; samples accepted, bad policies
rejected at admission naming their field."""
import json
import os
import unittest
from datetime import datetime, timedelta, timezone

import yaml

from common import CONTROLLER_ONLY, RP_PATH, SAMPLES, bad_policies
from kube_emulator.client import EmulatorProcess


class KubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess().start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def k(self, *args, **kw):
        return self.emu.kubectl(*args, **kw)

    def test_01_samples_accepted(self):
        for path in SAMPLES:
            p = self.k("apply", "-f", path)
            self.assertEqual(p.returncode, 0, "%s: %s" % (path, p.stderr))
            self.assertIn("created", p.stdout)
        p = self.k("apply", "-f", os.path.dirname(SAMPLES[0]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("unchanged"), len(SAMPLES), p.stdout)

    def test_02_get_printer_columns(self):
        self.k("apply", "-f", SAMPLES[0], check=True)
        p = self.k("get", "rp", check=True)
        header = p.stdout.splitlines()[0].split()
        self.assertEqual(header, ["NAME", "READY", "USAGE", "SIZE", "LIMIT", "LASTRUN",
                                  "LASTRUNTIME", "AGE"])
        # Write a status as the controller would, and read it back through the columns.
        done = (datetime.now(timezone.utc) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {"status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "RunSucceeded",
                            "message": "last run succeeded", "observedGeneration": 1,
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "database": {"type": "sqlite", "schema": "gorm-sqlite", "sizeBytes": 1048576,
                         "freeBytes": 0, "volumeUsedBytes": 2097152,
                         "volumeLimitBytes": 524288000, "usagePercent": 0.4,
                         "growthBytesPerHour": 10.5, "predictedFullTime": None,
                         "tables": [{"name": "event", "rows": 10, "bytes": 4096}]},
            "lastRun": {"startTime": "2026-01-01T00:00:00Z",
                        "completionTime": done, "result": "Succeeded",
                        "message": "deleted 10 rows", "deleted": [
                            {"table": "event", "rule": "sessions", "rows": 10, "bytes": 4096}],
                        "reclaimedBytes": 0, "maxBatchMillis": 3},
            "lastSuccessfulRunTime": "2026-01-01T00:00:01Z",
            "nextRunTime": "2026-01-01T00:15:01Z"}}
        code, out = self.emu.request("PATCH", RP_PATH + "/default/status", status,
                                     "application/merge-patch+json")
        self.assertEqual(code, 200, out)
        row = [line.split() for line in self.k("get", "rp", "default", check=True)
               .stdout.splitlines()][1]
        self.assertEqual(row[:6], ["default", "True", "0.4", "1048576", "524288000",
                                   "Succeeded"])
        self.assertIn(row[6], ("3h", "3h1m"), row)
        wide = self.k("get", "rp", "-o", "wide", check=True).stdout
        self.assertIn("LASTRUNTIME", wide)
        # the category and the short name
        self.assertIn("default", self.k("get", "kagent", check=True).stdout)

    def test_03_get_yaml_defaults(self):
        self.k("apply", "-f", SAMPLES[0], check=True)
        self.k("apply", "-f", [s for s in SAMPLES if "dry-run" in s][0], check=True)
        obj = yaml.safe_load(self.k("get", "rp", "dry-run", "-o", "yaml", check=True).stdout)
        spec = obj["spec"]
        self.assertEqual(obj["metadata"]["generation"], 1)
        self.assertTrue(obj["metadata"]["resourceVersion"])
        # sections defaulted by the CRD schema
        self.assertEqual(spec["schedule"], {"interval": "15m"})
        self.assertEqual(spec["activeWindow"], "30m")
        self.assertEqual(spec["checkpoints"], {"keepLatestPerThread": 3, "minAge": "1h"})
        self.assertEqual(spec["batch"], {"maxRows": 1000, "maxLockDuration": "50ms",
                                         "pause": "20ms"})
        self.assertEqual(spec["volume"]["emergency"]["steps"],
                         ["softDeleted", "orphans", "checkpoints", "finishedTasks",
                          "idleSessions"])
        self.assertEqual(spec["reclaim"], {"mode": "Auto"})
        self.assertEqual(spec["limits"], {"runTimeout": "10m"})
        # rule sections absent stay absent (rule off)
        for rule in ("events", "crewai"):
            self.assertNotIn(rule, spec)

    def test_04_edit_bumps_generation(self):
        self.k("apply", "-f", SAMPLES[0], check=True)
        gen = json.loads(self.k("get", "rp", "default", "-o", "json", check=True).stdout)[
            "metadata"]["generation"]
        with open(SAMPLES[0]) as f:
            text = f.read().replace("interval: 15m", "interval: 20m")
        p = self.k("apply", "-f", "-", input=text, check=True)
        self.assertIn("configured", p.stdout)
        obj = json.loads(self.k("get", "rp", "default", "-o", "json", check=True).stdout)
        self.assertEqual(obj["metadata"]["generation"], gen + 1)
        self.assertEqual(obj["spec"]["schedule"]["interval"], "20m")
        # a label change is metadata: no new generation
        self.k("label", "rp", "default", "team=platform", check=True)
        obj = json.loads(self.k("get", "rp", "default", "-o", "json", check=True).stdout)
        self.assertEqual(obj["metadata"]["generation"], gen + 1)
        self.assertEqual(obj["metadata"]["labels"], {"team": "platform"})
        with open(SAMPLES[0]) as f:
            self.k("apply", "-f", "-", input=f.read(), check=True)

    def test_05_bad_policies_rejected(self):
        for name, expect, text in bad_policies():
            with self.subTest(policy=name):
                p = self.k("apply", "-f", "-", input=text)
                if name in CONTROLLER_ONLY:
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.k("delete", "rp", "bad-" + name, check=True)
                    continue
                self.assertNotEqual(p.returncode, 0, "%s was accepted" % name)
                err = p.stderr
                if expect == "apiVersion":
                    self.assertIn('no matches for kind "RetentionPolicy" in version '
                                  '"kagent.dev/v1"', err)
                elif expect == "kind":
                    self.assertIn('no matches for kind "RetentionPolicies"', err)
                elif "strict decoding error" in err:
                    self.assertIn('unknown field "%s"' % expect, err)
                else:
                    self.assertIn('is invalid: %s:' % expect, err)

    def test_06_describe_lists_events(self):
        self.k("apply", "-f", SAMPLES[0], check=True)
        uid = json.loads(self.k("get", "rp", "default", "-o", "json", check=True).stdout)[
            "metadata"]["uid"]
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
              "metadata": {"name": "default.prune1", "namespace": "kagent"},
              "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController":
              "kagent.dev/kagent-retention", "reportingInstance": "kagent-controller-x",
              "action": "Prune", "reason": "PruneSucceeded", "type": "Normal",
              "note": "deleted 42 rows (1.2 MiB)",
              "regarding": {"apiVersion": "kagent.dev/v1alpha1", "kind": "RetentionPolicy",
                            "name": "default", "namespace": "kagent", "uid": uid}}
        code, out = self.emu.request("POST", "/apis/events.k8s.io/v1/namespaces/kagent/events",
                                     ev)
        self.assertEqual(code, 201, out)
        d = self.k("describe", "rp", "default", check=True).stdout
        self.assertIn("Events:", d)
        self.assertIn("PruneSucceeded", d)
        self.assertIn("deleted 42 rows", d)
        self.assertIn("Active Window:", d)
        ev_out = self.k("get", "events", check=True).stdout
        self.assertIn("retentionpolicy/default", ev_out)

    def test_07_explain(self):
        p = self.k("explain", "retentionpolicy.spec.volume", check=True)
        self.assertIn("lowWatermarkPercent", p.stdout)
        self.assertIn("emergency ladder", p.stdout)
        p = self.k("explain", "rp.spec.checkpoints.keepLatestPerThread", check=True)
        self.assertIn("Keep the newest N checkpoints", p.stdout)

    def test_08_delete(self):
        self.k("apply", "-f", SAMPLES[0], check=True)
        p = self.k("delete", "rp", "default", check=True)
        self.assertIn('retentionpolicy.kagent.dev "default" deleted', p.stdout)
        p = self.k("get", "rp", "default")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('retentionpolicies.kagent.dev "default" not found', p.stderr)
        p = self.k("delete", "rp", "default")
        self.assertIn("NotFound", p.stderr)

    def test_09_server_side_apply_and_dry_run(self):
        path = [s for s in SAMPLES if "small-volume" in s][0]
        p = self.k("apply", "--server-side", "-f", path, check=True)
        self.assertIn("serverside-applied", p.stdout)
        p = self.k("apply", "--dry-run=server", "-f", "-",
                   input=bad_policies()[0][2])
        self.assertNotEqual(p.returncode, 0)
        p = self.k("apply", "--dry-run=server", "-f", SAMPLES[0])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_10_builtins(self):
        pods = self.k("get", "pods", "-o", "json", check=True).stdout
        pod = json.loads(pods)["items"][0]
        vol = [v for v in pod["spec"]["volumes"] if v["name"] == "sqlite-volume"][0]
        self.assertEqual(vol["emptyDir"], {"sizeLimit": "500Mi", "medium": "Memory"})
        self.assertIn("Running", self.k("get", "pods", check=True).stdout)
        ns = self.k("get", "ns", check=True).stdout
        for n in ("default", "kagent"):
            self.assertIn(n, ns)
        lease = ("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n"
                 "  name: kagent-retention\nspec:\n  holderIdentity: pod-a\n"
                 "  leaseDurationSeconds: 15\n")
        self.k("apply", "-f", "-", input=lease, check=True)
        p = self.k("apply", "-f", "-", input=lease.replace("pod-a", "pod-b"), check=True)
        self.assertIn("configured", p.stdout)
        self.assertIn("pod-b", self.k("get", "lease", check=True).stdout)
        self.k("delete", "lease", "kagent-retention", check=True)
        p = self.k("get", "crd", "retentionpolicies.kagent.dev", check=True)
        self.assertIn("retentionpolicies.kagent.dev", p.stdout)


if __name__ == "__main__":
    unittest.main()
