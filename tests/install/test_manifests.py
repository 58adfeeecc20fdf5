# SPDX-License-Identifier: Apache-2.0
"""manifests/: every kustomization renders with `kubectl kustomize`, every object is valid
against the Kubernetes schemas (kubernetes-models, unknown fields included), and the pieces say
what the install needs: least-privilege namespaced RBAC, the sidecar Component applied to kagent's
controller Deployment, the standalone Deployment, the monitoring objects."""
import filecmp
import os
import unittest

import lib
from lib import MANIFESTS, docs, find, container


class Kustomize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rendered = {k: docs(lib.kustomize(os.path.join(MANIFESTS, k))) for k in lib.KUSTOMIZATIONS}
        cls.sidecar = docs(lib.kustomize_sidecar())

    def test_every_overlay_renders(self):
        kinds = {k: sorted(o["kind"] for o in v) for k, v in self.rendered.items()}
        self.assertEqual(kinds[""], ["CustomResourceDefinition", "RetentionPolicy", "Role", "RoleBinding"])
        self.assertEqual(kinds["prometheus"], ["PodMonitor", "PrometheusRule"])
        self.assertEqual(kinds["standalone"], ["Deployment", "Role", "Role", "RoleBinding",
                                               "RoleBinding", "ServiceAccount"])
        for k, objs in self.rendered.items():
            for o in objs:
                if o["kind"] != "CustomResourceDefinition":
                    self.assertEqual(o["metadata"].get("namespace"), "kagent", (k, o["kind"]))

    def test_schemas(self):
        if not lib.node_modules_ready():
            self.skipTest("tests/install/node_modules missing (the install_npm test runs npm ci)")
        items = [("manifests/%s" % k, o) for k, v in self.rendered.items() for o in v]
        items += [("manifests/sidecar + kagent v0.7.23", o) for o in self.sidecar]
        ok, out = lib.validate(items)
        print(out)
        self.assertTrue(ok, out)

    def test_the_validator_catches_errors(self):
        if not lib.node_modules_ready():
            self.skipTest("tests/install/node_modules missing (the install_npm test runs npm ci)")
        dep = find(self.sidecar, "Deployment")[0]
        import copy
        typo = copy.deepcopy(dep)
        container(typo["spec"]["template"]["spec"], "kagent-retention")["securityContex"] = {}
        wrong = copy.deepcopy(dep)
        container(wrong["spec"]["template"]["spec"], "kagent-retention")["ports"][0]["containerPort"] = "9464"
        unknown = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}}
        for what, obj, msg in (("typo", typo, 'unknown field "spec.template.spec.containers[0].securityContex"'),
                               ("type", wrong, "containerPort must be integer"),
                               ("kind", unknown, "no schema for apps/v1 Deploymnet")):
            ok, out = lib.validate([(what, obj)])
            self.assertFalse(ok, what)
            self.assertIn(msg, out, what)

    def test_rbac_least_privilege(self):
        role = find(self.rendered["rbac"], "Role")[0]
        rules = {(g, r): sorted(rule["verbs"]) for rule in role["rules"]
                 for g in rule["apiGroups"] for r in rule["resources"]}
        self.assertEqual(rules, {
            ("kagent.dev", "retentionpolicies"): ["get", "list", "watch"],
            ("kagent.dev", "retentionpolicies/status"): ["patch", "update"],
            ("events.k8s.io", "events"): ["create", "patch"],
            ("", "events"): ["create", "patch"],
            ("", "pods"): ["get"],
        })
        binding = find(self.rendered["rbac"], "RoleBinding")[0]
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "kagent-controller",
                                                "namespace": "kagent"}])
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        lease = find(self.rendered["rbac/leader-election"], "Role")[0]
        verbs = sorted(v for r in lease["rules"] for v in r["verbs"])
        self.assertEqual(verbs, ["create", "get", "update"])
        self.assertTrue(all(r["apiGroups"] == ["coordination.k8s.io"] and r["resources"] == ["leases"]
                            for r in lease["rules"]))
        # Nothing cluster-wide anywhere.
        for objs in self.rendered.values():
            self.assertFalse(find(objs, "ClusterRole") + find(objs, "ClusterRoleBinding"))

    def test_sidecar_component(self):
        dep = find(self.sidecar, "Deployment", "kagent-controller")[0]
        spec = dep["spec"]["template"]["spec"]
        self.assertEqual(sorted(c["name"] for c in spec["containers"]), ["controller", "kagent-retention"])
        kr = container(spec, "kagent-retention")
        ctl = container(spec, "controller")
        # kagent's container is untouched.
        fixture = find(docs(open(lib.FIXTURE).read()), "Deployment")[0]
        self.assertEqual(ctl, container(fixture["spec"]["template"]["spec"], "controller"))
        mounts = {m["name"]: m["mountPath"] for m in kr["volumeMounts"]}
        self.assertEqual(mounts, {"sqlite-volume": "/sqlite-volume", "kagent-retention-tmp": "/tmp"})
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertEqual(vols["sqlite-volume"]["emptyDir"], {"sizeLimit": "500Mi", "medium": "Memory"})
        self.assertIn("emptyDir", vols["kagent-retention-tmp"])
        self.assertEqual(kr["envFrom"], [{"configMapRef": {"name": "kagent-controller"}}])
        env = {e["name"]: e for e in kr["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace")
        self.assertEqual(env["TMPDIR"]["value"], "/tmp")
        sc = kr["securityContext"]
        self.assertEqual(sc, {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": True,
                              "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                              "capabilities": {"drop": ["ALL"]},
                              "seccompProfile": {"type": "RuntimeDefault"}})
        self.assertEqual(kr["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "kr-probes"})
        self.assertEqual(kr["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "kr-probes"})
        ports = {p["name"]: p["containerPort"] for p in kr["ports"]}
        self.assertEqual(ports, {"kr-metrics": 9464, "kr-probes": 9465})
        self.assertEqual(kr["resources"], {"requests": {"cpu": "10m", "memory": "16Mi"},
                                           "limits": {"cpu": "200m", "memory": "128Mi"}})
        self.assertEqual(dep["spec"]["template"]["metadata"]["annotations"]
                         ["kubectl.kubernetes.io/default-container"], "controller")
        # The other objects of kagent's release are unchanged.
        self.assertEqual(len(self.sidecar), len(docs(open(lib.FIXTURE).read())))

    def test_standalone(self):
        objs = self.rendered["standalone"]
        dep = find(objs, "Deployment")[0]
        self.assertEqual(dep["spec"]["replicas"], 2)
        c = container(dep["spec"]["template"]["spec"], "kagent-retention")
        self.assertIn("--leader-elect", c["args"])
        env = {e["name"]: e.get("value") for e in c["env"]}
        self.assertEqual(env["DATABASE_TYPE"], "postgres")
        self.assertEqual(env["POSTGRES_DATABASE_URL_FILE"], "/etc/kagent-retention/database/url")
        sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
        self.assertEqual([o["metadata"]["name"] for o in find(objs, "ServiceAccount")], [sa])
        for b in find(objs, "RoleBinding"):
            self.assertEqual(b["subjects"][0]["name"], sa)

    def test_podmonitor_matches_the_sidecar_pod(self):
        pm = find(self.rendered["prometheus"], "PodMonitor")[0]
        # The alerts expect the job <namespace>/kagent-retention.
        self.assertEqual(pm["metadata"]["name"], "kagent-retention")
        dep = find(self.sidecar, "Deployment")[0]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        for k, v in pm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(k), v)
        ports = [p["name"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
        self.assertIn(pm["spec"]["podMetricsEndpoints"][0]["port"], ports)

    def test_copies_in_the_chart_are_identical(self):
        pairs = [("crd/kagent.dev_retentionpolicies.yaml", "crds/kagent.dev_retentionpolicies.yaml"),
                 ("prometheus/rules.yaml", "files/rules.yaml"),
                 ("sidecar/kustomization.yaml", "post-renderer/sidecar/kustomization.yaml"),
                 ("sidecar/deployment-patch.yaml", "post-renderer/sidecar/deployment-patch.yaml")]
        for m, c in pairs:
            self.assertTrue(filecmp.cmp(os.path.join(MANIFESTS, m), os.path.join(lib.CHART, c), shallow=False),
                            "charts/kagent-retention/%s differs from manifests/%s: copy it" % (c, m))

    def test_github_workflow(self):
        """The workflow that runs the real helm and kind parses and names paths that exist."""
        import re
        import yaml
        path = os.path.join(lib.SRC, ".github", "workflows", "install.yaml")
        wf = yaml.safe_load(open(path))
        self.assertEqual(sorted(wf["jobs"]), ["helm", "kind"])
        text = open(path).read()
        for p in set(re.findall(r"\b((?:charts|manifests|tests/install)/[\w./-]*\w)", text)):
            self.assertTrue(os.path.exists(os.path.join(lib.SRC, p)), p)
