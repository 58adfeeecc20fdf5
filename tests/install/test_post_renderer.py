# SPDX-License-Identifier: Apache-2.0
"""The Helm post-renderer (charts/kagent-retention/post-renderer/) on a rendering of kagent's
controller as kagent's chart v0.7.23 produces it (fixtures/kagent-v0.7.23.yaml): the output is
kagent's release with the sidecar in the controller's pod, both containers sharing the SQLite
volume; options rename what a differently named release needs; a release without the SQLite
volume is refused; and the sidecar's resolved environment starts the real binary."""
import os
import shutil
import subprocess
import tempfile
import unittest

import lib
from lib import docs, find, container


def post_render(text, *args, check=True):
    return lib.run([lib.POST_RENDERER] + list(args), input=text, check=check)


class PostRenderer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixture = open(lib.FIXTURE).read()
        cls.out = docs(post_render(cls.fixture).stdout)

    def pod(self, objs):
        return find(objs, "Deployment", [d["metadata"]["name"] for d in find(objs, "Deployment")][0])[0][
            "spec"]["template"]["spec"]

    def test_both_containers_share_the_volume(self):
        spec = self.pod(self.out)
        names = [c["name"] for c in spec["containers"]]
        self.assertEqual(sorted(names), ["controller", "kagent-retention"])
        vol = [v for v in spec["volumes"] if v["name"] == "sqlite-volume"]
        self.assertEqual(len(vol), 1)
        self.assertEqual(vol[0]["emptyDir"], {"sizeLimit": "500Mi", "medium": "Memory"})
        for c in spec["containers"]:
            mounts = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "sqlite-volume"]
            self.assertEqual(mounts, ["/sqlite-volume"], c["name"])
        kr = container(spec, "kagent-retention")
        self.assertEqual(kr["securityContext"]["runAsUser"], 65532)
        self.assertEqual(kr["envFrom"], [{"configMapRef": {"name": "kagent-controller"}}])
        self.assertEqual(kr["image"], "ghcr.io/kagent-dev/kagent-retention:0.1.0")
        # The database path the sidecar gets from kagent's ConfigMap is on the shared volume.
        cm = find(self.out, "ConfigMap", "kagent-controller")[0]
        self.assertTrue(cm["data"]["SQLITE_DATABASE_PATH"].startswith("/sqlite-volume/"))
        self.assertEqual(spec["serviceAccountName"], "kagent-controller")

    def test_the_rest_of_the_release_is_unchanged(self):
        before = docs(self.fixture)
        self.assertEqual(len(before), len(self.out))
        for b in before:
            a = find(self.out, b["kind"], b["metadata"]["name"])[0]
            if b["kind"] != "Deployment":
                self.assertEqual(a, b)
        d0 = find(before, "Deployment")[0]
        d1 = find(self.out, "Deployment")[0]
        self.assertEqual(container(d0["spec"]["template"]["spec"], "controller"),
                         container(d1["spec"]["template"]["spec"], "controller"))
        self.assertEqual(d0["spec"]["selector"], d1["spec"]["selector"])

    def test_options(self):
        text = self.fixture.replace("kagent-controller", "agents-controller")
        out = docs(post_render(text, "--image=registry.example/kr:1.2.3", "--kagent-fullname=agents",
                               "--policy-name", "small-volume", "--log-level=debug").stdout)
        kr = container(self.pod(out), "kagent-retention")
        self.assertEqual(kr["image"], "registry.example/kr:1.2.3")
        self.assertEqual(kr["envFrom"], [{"configMapRef": {"name": "agents-controller"}}])
        env = {e["name"]: e.get("value") for e in kr["env"]}
        self.assertEqual(env["RETENTION_POLICY_NAME"], "small-volume")
        self.assertEqual(env["LOG_LEVEL"], "debug")
        # The same from the environment.
        p = lib.run([lib.POST_RENDERER], input=text, env=dict(os.environ, KAGENT_FULLNAME="agents",
                                                                KAGENT_RETENTION_POLICY="p1"))
        kr = container(self.pod(docs(p.stdout)), "kagent-retention")
        self.assertEqual(kr["envFrom"][0]["configMapRef"]["name"], "agents-controller")

    def test_refusals(self):
        no_sqlite = "\n".join(l for l in self.fixture.splitlines() if "sqlite-volume" not in l)
        p = post_render(no_sqlite, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("standalone mode", p.stderr)
        self.assertEqual(p.stdout, "")
        other = self.fixture.replace("app.kubernetes.io/component: controller", "app.kubernetes.io/component: ui")
        p = post_render(other, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no Deployment labelled", p.stderr)
        for bad in (["--kagent-fullname=Bad_Name"], ["--image=a b"], ["--log-level=loud"], ["--nope"]):
            p = post_render(self.fixture, *bad, check=False)
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertEqual(p.stdout, "", bad)

    def test_schemas(self):
        if not lib.node_modules_ready():
            self.skipTest("tests/install/node_modules missing (the install_npm test runs npm ci)")
        ok, out = lib.validate([("post-renderer", o) for o in self.out])
        print(out)
        self.assertTrue(ok, out)

    def test_sidecar_environment_starts_the_binary(self):
        """The sidecar's environment, resolved as the kubelet would (kagent's ConfigMap, then
        env), with the volume path mapped to a directory here: `run --once` prunes the file."""
        binary = os.environ.get("KR_BINARY")
        if not binary or not os.path.exists(binary):
            self.skipTest("KR_BINARY not set")
        spec = self.pod(self.out)
        kr = container(spec, "kagent-retention")
        cm = find(self.out, "ConfigMap", "kagent-controller")[0]["data"]
        d = tempfile.mkdtemp(prefix="kr-sidecar-env-")
        try:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            env.update(cm)
            for e in kr["env"]:
                if "value" in e:
                    env[e["name"]] = e["value"]
                elif e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name":
                    env[e["name"]] = "kagent-controller-0"
                else:
                    env[e["name"]] = "kagent"
            env["SQLITE_DATABASE_PATH"] = env["SQLITE_DATABASE_PATH"].replace("/sqlite-volume", d)
            env["TMPDIR"] = d
            db = env["SQLITE_DATABASE_PATH"]
            lib.run([binary, "datagen", "--sqlite-database-path", db, "--sessions", "30", "--days", "60"],
                    env=env)
            policy = os.path.join(lib.MANIFESTS, "samples", "retentionpolicy-default.yaml")
            p = lib.run([binary] + kr["args"] + ["--once", "--policy", policy, "--metrics-bind-address", "0",
                                                 "--health-probe-bind-address", "0", "--reserve-bytes", "0"],
                        env=env)
            self.assertIn("Succeeded", p.stdout + p.stderr)
        finally:
            shutil.rmtree(d)
