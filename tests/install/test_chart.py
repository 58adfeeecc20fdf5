# SPDX-License-Identifier: Apache-2.0
"""charts/kagent-retention rendered by helmrender (Helm's template language: text/template +
sprig + Helm's functions and values handling) for the default values and each mode: every
object valid against the Kubernetes schemas, the values schema rejects bad values, the chart's
files match the repository's, NOTES render, and every value is documented."""
import os
import re
import unittest

import yaml

import lib
from lib import docs, find, container


class Chart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = {}
        for case, args in lib.CHART_CASES.items():
            cls.out[case] = docs(lib.render_chart(args).stdout)

    def test_default_is_sidecar_mode(self):
        objs = self.out["default"]
        self.assertEqual(sorted(o["kind"] for o in objs), ["RetentionPolicy", "Role", "RoleBinding"])
        rb = find(objs, "RoleBinding")[0]
        self.assertEqual(rb["subjects"], [{"kind": "ServiceAccount", "name": "kagent-controller",
                                           "namespace": "kagent"}])
        rp = find(objs, "RetentionPolicy")[0]
        self.assertEqual(rp["metadata"]["name"], "default")
        self.assertEqual(rp["spec"]["sessions"], {"expireAfter": "30d"})
        for o in objs:
            self.assertEqual(o["metadata"]["namespace"], "kagent")
            self.assertEqual(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm")

    def test_the_rbac_matches_manifests(self):
        chart_role = find(self.out["default"], "Role")[0]
        repo_role = find(docs(lib.kustomize(os.path.join(lib.MANIFESTS, "rbac"))), "Role")[0]
        self.assertEqual(chart_role["rules"], repo_role["rules"])

    def test_sidecar_other_release(self):
        objs = self.out["sidecar-release-kagent2"]
        self.assertEqual(find(objs, "RoleBinding")[0]["subjects"][0]["name"], "kagent2-controller")
        self.assertEqual(find(objs, "RetentionPolicy")[0]["metadata"]["name"], "small")

    def test_monitoring_toggles(self):
        objs = self.out["sidecar-monitoring"]
        pm = find(objs, "PodMonitor")[0]
        self.assertEqual(pm["metadata"]["name"], "kagent-retention")
        self.assertEqual(pm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        self.assertEqual(pm["spec"]["selector"]["matchLabels"],
                         {"app.kubernetes.io/name": "kagent", "app.kubernetes.io/component": "controller"})
        rule = find(objs, "PrometheusRule")[0]
        repo = yaml.safe_load(open(os.path.join(lib.MANIFESTS, "prometheus", "prometheusrule.yaml")))
        self.assertEqual(rule["spec"], repo["spec"])  # Prometheus' {{ $labels }} kept verbatim
        self.assertFalse(find(self.out["default"], "PodMonitor") + find(self.out["default"], "PrometheusRule"))

    def test_standalone(self):
        objs = self.out["standalone"]
        dep = find(objs, "Deployment")[0]
        self.assertEqual(dep["spec"]["replicas"], 2)
        spec = dep["spec"]["template"]["spec"]
        c = container(spec, "kagent-retention")
        self.assertEqual(c["args"], ["run", "--leader-elect"])
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["DATABASE_TYPE"]["value"], "postgres")
        self.assertEqual(env["POSTGRES_DATABASE_URL_FILE"]["value"], "/etc/kagent-retention/database/url")
        self.assertNotIn("POSTGRES_DATABASE_URL", env)
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertEqual(vols["database-url"]["secret"]["secretName"], "kagent-postgres")
        self.assertEqual(c["securityContext"]["readOnlyRootFilesystem"], True)
        sa = spec["serviceAccountName"]
        self.assertEqual([o["metadata"]["name"] for o in find(objs, "ServiceAccount")], [sa])
        roles = {r["metadata"]["name"]: r for r in find(objs, "Role")}
        lease = [r for r in roles.values() if any("leases" in x["resources"] for x in r["rules"])]
        self.assertEqual(len(lease), 1)
        self.assertIn(["kagent-retention-default"], [x.get("resourceNames") for x in lease[0]["rules"]])
        for b in find(objs, "RoleBinding"):
            self.assertEqual(b["subjects"][0]["name"], sa)
            self.assertIn(b["roleRef"]["name"], roles)
        self.assertEqual(find(objs, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"], 1)

    def test_standalone_env_and_single(self):
        c = container(find(self.out["standalone-env-monitoring"], "Deployment")[0]["spec"]["template"]["spec"],
                      "kagent-retention")
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["POSTGRES_DATABASE_URL"]["valueFrom"]["secretKeyRef"],
                         {"name": "kagent-postgres", "key": "url"})
        pm = find(self.out["standalone-env-monitoring"], "PodMonitor")[0]
        self.assertEqual(pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "kagent-retention")
        objs = self.out["standalone-single"]
        dep = find(objs, "Deployment")[0]
        self.assertEqual(container(dep["spec"]["template"]["spec"], "kagent-retention")["args"], ["run"])
        self.assertFalse(find(objs, "PodDisruptionBudget") + find(objs, "ServiceAccount"))
        self.assertFalse([r for r in find(objs, "Role") if "leader" in r["metadata"]["name"]])
        self.assertEqual(dep["spec"]["template"]["spec"]["serviceAccountName"], "kagent-controller")

    def test_no_policy_no_rbac(self):
        self.assertEqual(self.out["no-policy-no-rbac"], [])

    def test_schemas(self):
        if not lib.node_modules_ready():
            self.skipTest("tests/install/node_modules missing (the install_npm test runs npm ci)")
        items = [("chart %s" % case, o) for case, objs in self.out.items() for o in objs]
        crd = yaml.safe_load(open(os.path.join(lib.CHART, "crds", "kagent.dev_retentionpolicies.yaml")))
        items.append(("chart crds/", crd))
        ok, out = lib.validate(items)
        print(out)
        self.assertTrue(ok, out)

    def test_bad_values_rejected(self):
        cases = {
            "mode": (["--set", "mode=daemonset"], "mode must be one of"),
            "unknown key": (["--set", "replicas=2"], "Additional property replicas is not allowed"),
            "standalone without a secret": (["--set", "mode=standalone"],
                                            "standalone.database.existingSecret"),
            "urlFrom": (["--set", "mode=standalone", "--set", "standalone.database.existingSecret=s",
                         "--set", "standalone.database.urlFrom=volume"], "urlFrom"),
            "replicas": (["--set", "standalone.replicaCount=0"], "replicaCount"),
            "policy name": (["--set", "policy.name=Default_Policy"], "policy.name"),
            "log level": (["--set", "logLevel=verbose"], "logLevel"),
            "image pull policy": (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        }
        for what, (args, msg) in cases.items():
            p = lib.render_chart(args, check=False)
            self.assertNotEqual(p.returncode, 0, what)
            self.assertIn(msg, p.stderr, what)

    def test_required_without_schema(self):
        # The template's own `required` (for a schema-less lint) names the missing value too.
        text = open(os.path.join(lib.CHART, "templates", "deployment.yaml")).read()
        self.assertIn('required "standalone mode needs standalone.database.existingSecret', text)

    def test_notes_render(self):
        for case, args in lib.CHART_CASES.items():
            notes = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kr-notes-%d.txt" % os.getpid())
            try:
                lib.render_chart(args, notes=notes)
                text = open(notes).read()
            finally:
                if os.path.exists(notes):
                    os.unlink(notes)
            self.assertIn("kagent-retention 0.1.0", text, case)
            self.assertNotIn("<no value>", text)
            if "standalone" in case:
                self.assertIn("kagent-postgres", text, case)
            else:
                self.assertIn("--post-renderer", text, case)

    def test_every_value_documented(self):
        values = yaml.safe_load(open(os.path.join(lib.CHART, "values.yaml")))
        readme = open(os.path.join(lib.CHART, "README.md")).read()
        schema = yaml.safe_load(open(os.path.join(lib.CHART, "values.schema.json")))

        def leaves(v, prefix=""):
            for k, x in v.items():
                p = prefix + k
                # policy.spec is the RetentionPolicy spec, documented by the CRD.
                if isinstance(x, dict) and x and p not in ("policy.spec", "resources", "securityContext",
                                                           "standalone.podSecurityContext"):
                    yield from leaves(x, p + ".")
                else:
                    yield p

        def in_schema(path):
            s = schema
            for k in path.split("."):
                s = s.get("properties", {}).get(k)
                if s is None:
                    return False
            return bool(s.get("description"))

        for p in leaves(values):
            self.assertIn("`%s`" % p, readme, "charts/kagent-retention/README.md does not document %s" % p)
            self.assertTrue(in_schema(p), "values.schema.json has no description for %s" % p)
        # Each documented value exists.
        for p in re.findall(r"^\| `([a-zA-Z.]+)` \|", readme, re.M):
            node = values
            for k in p.split("."):
                self.assertIn(k, node, "README documents %s, which values.yaml lacks" % p)
                node = node[k]
