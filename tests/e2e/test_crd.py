# SPDX-License-Identifier: Apache-2.0
"""The RetentionPolicy CRD: structural, described, defaults equal to the API document's (the
default sample writes every field with its default), CEL rules that say what they should, and
kubectl renders and applies it."""
import copy
import os
import shutil
import unittest

import yaml

from common import CRD_FILE, REPO, SAMPLES, load_crd
from kube_emulator import cel, schema


def spec_schema():
    return load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def admit(spec):
    """Prune, default and validate a spec as the API server does; returns (spec, errors)."""
    root = spec_schema()
    obj = {"spec": copy.deepcopy(spec)}
    unknown = []
    schema.prune(obj, root, "", unknown)
    schema.drop_nulls(obj, root)
    schema.apply_defaults(obj, root)
    errs = []
    schema.validate(obj, root, "", errs)
    return obj["spec"], [str(e) for e in errs] + ["unknown " + u for u in unknown]


class CrdTest(unittest.TestCase):
    def test_names_and_versions(self):
        crd = load_crd()
        self.assertEqual(crd["apiVersion"], "apiextensions.k8s.io/v1")
        s = crd["spec"]
        self.assertEqual(crd["metadata"]["name"], "retentionpolicies.kagent.dev")
        self.assertEqual((s["group"], s["scope"]), ("kagent.dev", "Namespaced"))
        self.assertEqual(s["names"], {"kind": "RetentionPolicy", "listKind": "RetentionPolicyList",
                                      "plural": "retentionpolicies",
                                      "singular": "retentionpolicy", "shortNames": ["rp"],
                                      "categories": ["kagent"]})
        v = s["versions"]
        self.assertEqual([(x["name"], x["served"], x["storage"]) for x in v],
                         [("v1alpha1", True, True)])
        self.assertEqual(v[0]["subresources"], {"status": {}})
        cols = {c["name"]: c["jsonPath"] for c in v[0]["additionalPrinterColumns"]}
        self.assertEqual(cols, {
            "Ready": '.status.conditions[?(@.type=="Ready")].status',
            "Usage": ".status.database.usagePercent", "Size": ".status.database.sizeBytes",
            "Limit": ".status.database.volumeLimitBytes", "LastRun": ".status.lastRun.result",
            "LastRunTime": ".status.lastRun.completionTime", "Age": ".metadata.creationTimestamp"})

    def test_structural_and_described(self):
        errs = []
        schema.check_structural(spec_schema(), "openAPIV3Schema", errs)
        self.assertEqual([str(e) for e in errs], [])
        missing = []

        def walk(n, path):
            if path and path != ".metadata" and not n.get("description"):
                missing.append(path)
            for k, c in (n.get("properties") or {}).items():
                walk(c, path + "." + k)
            if isinstance(n.get("items"), dict):
                walk(n["items"], path + "[]")

        walk(spec_schema(), "")
        self.assertEqual(missing, [])

    def test_rule_sections_have_no_default(self):
        props = spec_schema()["properties"]["spec"]["properties"]
        for rule in ("sessions", "softDeleted", "tasks", "checkpoints", "events", "crewai",
                     "orphans"):
            self.assertNotIn("default", props[rule], rule)
            self.assertTrue(props[rule].get("nullable"), rule)
        for group in ("schedule", "volume", "reclaim", "batch", "limits"):
            self.assertEqual(props[group].get("default"), {}, group)

    def test_defaults_match_the_api_document(self):
        with open([s for s in SAMPLES if s.endswith("default.yaml")][0]) as f:
            sample = yaml.safe_load(f)["spec"]
        # every rule section present but empty: the CRD fills in the documented defaults
        spec, errs = admit({k: {} for k in ("sessions", "softDeleted", "tasks", "checkpoints",
                                            "events", "crewai", "orphans")})
        self.assertEqual(errs, [])

        def no_nulls(x):
            if isinstance(x, dict):
                return {k: no_nulls(v) for k, v in x.items() if v is not None}
            return x

        self.assertEqual(spec, no_nulls(sample))
        # an empty spec: only the non-rule sections
        spec, errs = admit({})
        self.assertEqual(sorted(spec), ["activeWindow", "batch", "dryRun", "limits", "reclaim",
                                        "schedule", "suspend", "volume"])

    def test_samples_admitted_unchanged(self):
        for path in SAMPLES:
            with open(path) as f:
                spec = yaml.safe_load(f)["spec"]
            out, errs = admit(spec)
            self.assertEqual(errs, [], path)

    def test_duration_rules(self):
        cases = {
            ("schedule", "interval"): [("1m", True), ("59s", False), ("30s30s", True),
                                       ("0.5d", True), ("1w", True), ("60000ms", True),
                                       ("59999ms", False), ("0d", False)],
            ("batch", "maxLockDuration"): [("1ms", True), ("10s", True), ("10001ms", False),
                                           ("1m", False), ("0ms", False), ("0.0001d", True)],
            ("batch", "pause"): [("0s", True), ("10s", True), ("11s", False)],
            ("limits", "runTimeout"): [("1s", True), ("500ms", False), ("2w", True)],
        }
        for (sec, field), vals in cases.items():
            for v, ok in vals:
                with self.subTest(field=field, value=v):
                    _, errs = admit({sec: {field: v}})
                    self.assertEqual(errs == [], ok, errs)
        for v, ok in (("30m", True), ("1h", True), ("59s", False), ("0s", False)):
            _, errs = admit({"activeWindow": v})
            self.assertEqual(errs == [], ok, (v, errs))

    def test_quantity_and_watermarks(self):
        for v, ok in (("500Mi", True), ("1Gi", True), ("10G", True), (123456, True),
                      ("123456", True), ("1e3", True), ("1.5Gi", True), ("0.5", False),
                      ("500m", False), (0, False), ("500MB", False), (True, False)):
            with self.subTest(sizeLimit=v):
                _, errs = admit({"volume": {"sizeLimit": v}})
                self.assertEqual(errs == [], ok, errs)
        _, errs = admit({"volume": {"highWatermarkPercent": 60}})
        self.assertEqual(errs, ['spec.volume.lowWatermarkPercent: Invalid value: "object": '
                                'lowWatermarkPercent must be less than highWatermarkPercent'])
        _, errs = admit({"volume": {"highWatermarkPercent": 66, "lowWatermarkPercent": 0}})
        self.assertEqual(errs, [])

    def test_cel_evaluator(self):
        ev = cel.evaluate
        self.assertTrue(ev("self.a < self.b && has(self.a) && !has(self.c)",
                           {"self": {"a": 1, "b": 2}}))
        self.assertTrue(ev("false || true ? 'x'.size() == 1 : false", {}))
        self.assertTrue(ev("self.all(x, x > 0) && self.exists_one(x, x == 2)",
                           {"self": [1, 2, 3]}))
        self.assertEqual(ev("self.map(x, x * 2).filter(y, y > 2)", {"self": [1, 2, 3]}), [4, 6])
        self.assertTrue(ev("duration('1h30m') > duration('90m') || "
                           "duration('1h30m').getMinutes() == 90", {}))
        self.assertTrue(ev("quantity('1Gi').compareTo(quantity('1024Mi')) == 0", {}))
        self.assertTrue(ev("type(self) == string && self.matches('^a+$')", {"self": "aaa"}))
        self.assertTrue(ev("'a,b'.split(',') == ['a', 'b'] && 7 / 2 == 3 && 7 % 2 == 1", {}))
        # error absorption of || and &&
        self.assertTrue(ev("true || self.missing", {"self": {}}))
        self.assertFalse(ev("self.missing && false", {"self": {}}))
        with self.assertRaises(cel.CelError):
            ev("self.missing", {"self": {}})
        with self.assertRaises(cel.CelError):
            ev("1 + 1.0", {})
        with self.assertRaises(cel.CelError):
            ev("duration('1d')", {})

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
    def test_kustomize_and_apply_the_crd(self):
        import subprocess
        out = subprocess.run(["kubectl", "kustomize", os.path.join(REPO, "manifests", "crd")],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(yaml.safe_load(out)["metadata"]["name"], "retentionpolicies.kagent.dev")
        from kube_emulator.client import EmulatorProcess
        # an emulator without CRDs: the CRD goes in through kubectl like on a real cluster
        with EmulatorProcess(args=["--crd", os.devnull]) as emu:
            p = emu.kubectl("apply", "-f", CRD_FILE)
            self.assertIn("created", p.stdout, p.stderr)
            p = emu.kubectl("apply", "-k", os.path.join(REPO, "manifests", "crd"))
            self.assertIn("unchanged", p.stdout, p.stderr)
            p = emu.kubectl("apply", "-f", SAMPLES[0])
            self.assertEqual(p.returncode, 0, p.stderr)
            p = emu.kubectl("get", "rp", "default")
            self.assertEqual(p.returncode, 0, p.stderr)
            p = emu.kubectl("delete", "crd", "retentionpolicies.kagent.dev")
            self.assertEqual(p.returncode, 0, p.stderr)
            p = emu.kubectl("get", "rp")
            self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
