# SPDX-License-Identifier: Apache-2.0
"""RetentionPolicies against the CRD's schema in the Kubernetes API emulator (tests/e2e/
kube_emulator), with `kubectl apply --dry-run=server --validate=strict`: the samples, the default
policy of manifests/ and of every chart rendering are accepted (and defaulted); every bad policy of
tests/data/policies/bad/ is rejected naming its field, and so is a chart value that makes an
invalid policy."""
import glob
import os
import re
import sys
import unittest

import yaml

import lib
from lib import docs, find

sys.path.insert(0, os.path.join(lib.SRC, "tests", "e2e"))
from kube_emulator.client import EmulatorProcess  # noqa: E402

# Bad policies a Kubernetes API server cannot reject, and why.
API_ACCEPTS = {
    # kubectl reads YAML 1.1: `dryRun: yes` reaches the server as true; only the controller,
    # reading the file itself, rejects it.
    "wrong-type-bool.yaml",
}


def as_object(d, name):
    d = dict(d)
    d.setdefault("apiVersion", "kagent.dev/v1alpha1")
    d.setdefault("kind", "RetentionPolicy")
    d.setdefault("metadata", {"name": name})
    d["metadata"] = dict(d["metadata"], namespace="kagent")
    return d


class Emulator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess(args=["--crd", os.path.join(lib.MANIFESTS, "crd")]).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def dry_run(self, obj, check=False):
        return self.emu.kubectl("apply", "--dry-run=server", "--validate=strict", "-o", "yaml", "-f", "-",
                                input=yaml.safe_dump(obj), check=check)

    def accepted(self, obj, what):
        p = self.dry_run(obj)
        self.assertEqual(p.returncode, 0, "%s rejected: %s" % (what, p.stderr))
        self.assertNotIn("Warning", p.stderr, what)
        return yaml.safe_load(p.stdout)

    def test_crd_applies(self):
        self.emu.kubectl("apply", "--dry-run=server", "-k", os.path.join(lib.MANIFESTS, "crd"), check=True)
        self.emu.kubectl("apply", "--dry-run=server", "-f", os.path.join(lib.CHART, "crds"), check=True)

    def test_samples_accepted(self):
        files = sorted(glob.glob(os.path.join(lib.MANIFESTS, "samples", "*.yaml")))
        self.assertEqual(len(files), 4)
        for f in files:
            for obj in docs(open(f).read()):
                out = self.accepted(obj, f)
                # Structural defaulting filled in what the sample left out.
                self.assertIn("batch", out["spec"], f)

    def test_rendered_policies_accepted(self):
        objs = [("manifests/", o) for o in find(docs(lib.kustomize(lib.MANIFESTS)), "RetentionPolicy")]
        for case, args in lib.CHART_CASES.items():
            objs += [("chart " + case, o) for o in find(docs(lib.render_chart(args).stdout), "RetentionPolicy")]
        self.assertGreaterEqual(len(objs), 7)
        for what, o in objs:
            out = self.accepted(o, what)
            self.assertEqual(out["spec"]["schedule"]["interval"], "15m", what)
        # A policy from values with every rule off is still valid.
        p = lib.render_chart(["--set", "policy.spec=null"]).stdout
        self.accepted(find(docs(p), "RetentionPolicy")[0], "policy.spec=null")

    def test_bad_policies_rejected(self):
        files = sorted(glob.glob(os.path.join(lib.SRC, "tests", "data", "policies", "bad", "*.yaml")))
        self.assertGreater(len(files), 20)
        for f in files:
            base = os.path.basename(f)
            text = open(f).read()
            expect = re.search(r"^# expect: (\S+)", text, re.M).group(1)
            p = self.dry_run(as_object(yaml.safe_load(text), "bad-" + base[:-5]))
            if base in API_ACCEPTS:
                self.assertEqual(p.returncode, 0, base)
                continue
            self.assertNotEqual(p.returncode, 0, "%s accepted by the API" % base)
            if expect in ("apiVersion", "kind"):
                self.assertIn("no matches for kind", p.stderr, base)
            else:
                self.assertIn(expect, p.stderr, base)

    def test_bad_chart_values_rejected_by_the_crd(self):
        cases = {
            "inverted watermarks": (["--set", "policy.spec.volume.lowWatermarkPercent=90"],
                                    "lowWatermarkPercent must be less than highWatermarkPercent"),
            "bad duration": (["--set", "policy.spec.sessions.expireAfter=30 days"], "spec.sessions.expireAfter"),
            "typo": (["--set", "policy.spec.sessions.expireAftr=30d"], 'unknown field "spec.sessions.expireAftr"'),
            "reclaim": (["--set", "policy.spec.reclaim.mode=Full"], "spec.reclaim.mode"),
        }
        for what, (args, msg) in cases.items():
            rp = find(docs(lib.render_chart(args).stdout), "RetentionPolicy")[0]
            p = self.dry_run(rp)
            self.assertNotEqual(p.returncode, 0, what)
            self.assertIn(msg, p.stderr, what)
