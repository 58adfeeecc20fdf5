# SPDX-License-Identifier: Apache-2.0
"""API semantics over raw HTTPS (Python): discovery, auth, CRUD errors as kube-apiserver
returns them, generation and the status subresource, lists (resourceVersion, limit/continue,
selectors), watches (ordering, bookmarks, 410 after compaction), Events, Leases, patches."""
import json
import unittest

import yaml

from common import CONTROLLER_ONLY, RP_PATH, SAMPLES, bad_policies
from kube_emulator.client import EmulatorProcess

EV_CORE = "/api/v1/namespaces/kagent/events"
EV_V1 = "/apis/events.k8s.io/v1/namespaces/kagent/events"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kagent/leases"


def policy(name, spec=None, **meta):
    md = {"name": name, "namespace": "kagent"}
    md.update(meta)
    return {"apiVersion": "kagent.dev/v1alpha1", "kind": "RetentionPolicy", "metadata": md,
            "spec": spec if spec is not None else {}}


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess(args=["--bookmark-interval", "0.3"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def req(self, *a, **kw):
        return self.emu.request(*a, **kw)

    def create(self, obj, path=RP_PATH):
        code, out = self.req("POST", path, obj)
        self.assertEqual(code, 201, out)
        return out

    def delete_all(self):
        self.req("DELETE", RP_PATH)

    def setUp(self):
        self.delete_all()

    def assertStatus(self, out, code, reason):
        self.assertEqual(out["kind"], "Status")
        self.assertEqual(out["apiVersion"], "v1")
        self.assertEqual(out["status"], "Failure")
        self.assertEqual(out["code"], code, out)
        self.assertEqual(out["reason"], reason, out)

    # -- discovery and auth -------------------------------------------------------------------

    def test_discovery(self):
        code, out = self.req("GET", "/apis/kagent.dev/v1alpha1")
        self.assertEqual(code, 200)
        names = {r["name"]: r for r in out["resources"]}
        rp = names["retentionpolicies"]
        self.assertEqual((rp["kind"], rp["namespaced"], rp["shortNames"], rp["categories"],
                          rp["singularName"]),
                         ("RetentionPolicy", True, ["rp"], ["kagent"], "retentionpolicy"))
        self.assertIn("retentionpolicies/status", names)
        code, out = self.req("GET", "/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
        self.assertEqual(out["kind"], "APIGroupDiscoveryList")
        groups = [i["metadata"]["name"] for i in out["items"]]
        for g in ("kagent.dev", "events.k8s.io", "coordination.k8s.io"):
            self.assertIn(g, groups)
        code, out = self.req("GET", "/api/v1")
        self.assertEqual({"pods", "events", "namespaces"} <= {r["name"] for r in
                                                              out["resources"]}, True)
        code, out = self.req("GET", "/version", token=None)
        self.assertEqual((code, out["major"]), (200, "1"))
        code, out = self.req("GET", "/openapi/v3")
        self.assertIn("apis/kagent.dev/v1alpha1", out["paths"])
        code, out = self.req("GET", out["paths"]["apis/kagent.dev/v1alpha1"]["serverRelativeURL"])
        s = out["components"]["schemas"]["dev.kagent.v1alpha1.RetentionPolicy"]
        self.assertIn("spec", s["properties"])

    def test_auth(self):
        code, out = self.req("GET", RP_PATH, token="not-a-token")
        self.assertEqual(code, 401)
        self.assertStatus(out, 401, "Unauthorized")
        code, out = self.req("GET", RP_PATH, token=None)
        self.assertStatus(out, 403, "Forbidden")
        self.assertEqual(out["message"], 'retentionpolicies.kagent.dev is forbidden: User '
                         '"system:anonymous" cannot list resource "retentionpolicies" in API '
                         'group "kagent.dev" in the namespace "kagent"')
        code, out = self.req("GET", RP_PATH, token=None, client_cert=True)
        self.assertEqual(code, 200, out)
        code, out = self.req("GET", "/_emulator/state")
        self.assertEqual(code, 403)

    # -- CRUD ---------------------------------------------------------------------------------

    def test_create_get_conflicts(self):
        obj = self.create(policy("a", {"sessions": {}}))
        md = obj["metadata"]
        self.assertEqual(md["generation"], 1)
        self.assertTrue(md["uid"] and md["creationTimestamp"] and md["resourceVersion"])
        self.assertEqual(obj["spec"]["sessions"], {"expireAfter": "30d"})
        code, out = self.req("POST", RP_PATH, policy("a"))
        self.assertStatus(out, 409, "AlreadyExists")
        self.assertEqual(out["message"], 'retentionpolicies.kagent.dev "a" already exists')
        self.assertEqual(out["details"], {"name": "a", "group": "kagent.dev",
                                          "kind": "retentionpolicies"})
        code, out = self.req("GET", RP_PATH + "/nope")
        self.assertStatus(out, 404, "NotFound")
        self.assertEqual(out["message"], 'retentionpolicies.kagent.dev "nope" not found')
        # stale update
        stale = dict(obj)
        obj["spec"]["suspend"] = True
        code, cur = self.req("PUT", RP_PATH + "/a", obj)
        self.assertEqual(code, 200, cur)
        self.assertGreater(int(cur["metadata"]["resourceVersion"]), int(md["resourceVersion"]))
        stale["spec"] = dict(stale["spec"], dryRun=True)
        stale["metadata"] = dict(md)
        code, out = self.req("PUT", RP_PATH + "/a", stale)
        self.assertStatus(out, 409, "Conflict")
        self.assertEqual(out["message"], 'Operation cannot be fulfilled on retentionpolicies.'
                         'kagent.dev "a": the object has been modified; please apply your '
                         'changes to the latest version and try again')
        # an update without resourceVersion is refused for custom resources
        nov = dict(cur, metadata={"name": "a", "namespace": "kagent"})
        code, out = self.req("PUT", RP_PATH + "/a", nov)
        self.assertStatus(out, 422, "Invalid")
        # a merge patch carrying a stale resourceVersion conflicts too
        code, out = self.req("PATCH", RP_PATH + "/a", {"metadata": {
            "resourceVersion": md["resourceVersion"]}, "spec": {"dryRun": True}},
            "application/merge-patch+json")
        self.assertStatus(out, 409, "Conflict")
        # delete with a stale precondition
        code, out = self.req("DELETE", RP_PATH + "/a", {"preconditions": {
            "resourceVersion": md["resourceVersion"]}})
        self.assertStatus(out, 409, "Conflict")
        code, out = self.req("DELETE", RP_PATH + "/a")
        self.assertEqual(code, 200)
        self.assertEqual(out["metadata"]["name"], "a")

    def test_invalid_causes(self):
        for name, expect, text in bad_policies():
            doc = yaml.safe_load(text)
            if name in ("wrong-api-version", "wrong-kind"):
                continue
            with self.subTest(policy=name):
                if name in CONTROLLER_ONLY:
                    doc["spec"]["dryRun"] = "yes"  # what a YAML 1.2 reader sees
                code, out = self.req("POST", RP_PATH, doc, query={"fieldValidation": "Strict"})
                if code == 400:
                    self.assertStatus(out, 400, "BadRequest")
                    self.assertIn('unknown field "%s"' % expect, out["message"])
                    continue
                self.assertStatus(out, 422, "Invalid")
                fields = [c["field"] for c in out["details"]["causes"]]
                self.assertIn(expect, fields, out)
                self.assertEqual(out["details"]["kind"], "RetentionPolicy")
                self.assertEqual(out["details"]["group"], "kagent.dev")
                self.assertTrue(out["message"].startswith(
                    'RetentionPolicy.kagent.dev "%s" is invalid: ' % doc["metadata"]["name"]))
        # the API's default field validation (Warn) prunes unknown fields with a warning
        code, hdrs, body = self.req("POST", RP_PATH, policy("w", {"retention": {"days": 3}}),
                                    raw=True)
        self.assertEqual(code, 201)
        self.assertIn('unknown field \\"spec.retention\\"', hdrs.get("Warning"))
        self.assertNotIn("retention", json.loads(body)["spec"])

    def test_nulls_and_defaults(self):
        spec = {"sessions": {"expireAfter": None}, "events": {"maxAge": None},
                "schedule": {"interval": None}, "crewai": None, "volume": {"sizeLimit": None}}
        out = self.create(policy("n", spec))
        s = out["spec"]
        self.assertEqual(s["sessions"], {"expireAfter": None})  # nullable: kept, means off
        self.assertEqual(s["events"], {"maxAge": None, "keepLastPerSession": 200})
        self.assertEqual(s["schedule"], {"interval": "15m"})  # not nullable: defaulted
        self.assertIsNone(s["crewai"])
        self.assertIsNone(s["volume"]["sizeLimit"])
        self.assertEqual(s["volume"]["highWatermarkPercent"], 80)

    def test_generation_and_status_subresource(self):
        obj = self.create(policy("g", {"sessions": {}}))
        rv0 = int(obj["metadata"]["resourceVersion"])
        # status written through the main resource is ignored
        obj["status"] = {"observedGeneration": 7}
        code, out = self.req("PUT", RP_PATH + "/g", obj)
        self.assertEqual(code, 200)
        self.assertNotIn("status", out)
        self.assertEqual(out["metadata"]["generation"], 1)
        self.assertEqual(int(out["metadata"]["resourceVersion"]), rv0)  # no-op write
        # status subresource: spec ignored, generation unchanged, rv bumped
        code, out = self.req("PATCH", RP_PATH + "/g/status", {
            "spec": {"suspend": True}, "metadata": {"labels": {"x": "y"}},
            "status": {"observedGeneration": 1}}, "application/merge-patch+json")
        self.assertEqual(code, 200, out)
        self.assertEqual(out["status"], {"observedGeneration": 1})
        self.assertFalse(out["spec"]["suspend"])
        self.assertNotIn("labels", out["metadata"])
        self.assertEqual(out["metadata"]["generation"], 1)
        rv1 = int(out["metadata"]["resourceVersion"])
        self.assertGreater(rv1, rv0)
        # spec change bumps generation and keeps status
        code, out = self.req("PATCH", RP_PATH + "/g", {"spec": {"suspend": True}},
                             "application/merge-patch+json")
        self.assertEqual(out["metadata"]["generation"], 2)
        self.assertEqual(out["status"], {"observedGeneration": 1})
        # metadata change: no generation bump
        code, out = self.req("PATCH", RP_PATH + "/g", {"metadata": {"annotations": {"a": "b"}}},
                             "application/merge-patch+json")
        self.assertEqual(out["metadata"]["generation"], 2)
        # PUT on /status with a stale resourceVersion conflicts
        stale = dict(out, metadata=dict(out["metadata"], resourceVersion=str(rv1)))
        code, err = self.req("PUT", RP_PATH + "/g/status", stale)
        self.assertStatus(err, 409, "Conflict")
        # invalid status is rejected with its path
        code, err = self.req("PATCH", RP_PATH + "/g/status", {"status": {"conditions": [
            {"type": "Ready", "status": "Maybe", "reason": "X", "message": "",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}, "application/merge-patch+json")
        self.assertStatus(err, 422, "Invalid")
        self.assertEqual(err["details"]["causes"][0]["field"], "status.conditions[0].status")
        # JSON patch on the status
        code, out = self.req("PATCH", RP_PATH + "/g/status", [
            {"op": "test", "path": "/status/observedGeneration", "value": 1},
            {"op": "replace", "path": "/status/observedGeneration", "value": 2}],
            "application/json-patch+json")
        self.assertEqual((code, out["status"]["observedGeneration"]), (200, 2))
        # strategic merge patch is not for custom resources
        code, err = self.req("PATCH", RP_PATH + "/g", {"spec": {}},
                             "application/strategic-merge-patch+json")
        self.assertStatus(err, 415, "UnsupportedMediaType")

    def test_finalizers(self):
        self.create(policy("f", metadata_finalizers=None) if False else
                    dict(policy("f"), metadata={"name": "f", "namespace": "kagent",
                                                "finalizers": ["kagent.dev/test"]}))
        code, out = self.req("DELETE", RP_PATH + "/f")
        self.assertEqual(code, 200)
        self.assertTrue(out["metadata"]["deletionTimestamp"])
        code, out = self.req("PATCH", RP_PATH + "/f", {"metadata": {"finalizers": None}},
                             "application/merge-patch+json")
        self.assertEqual(code, 200, out)
        code, out = self.req("GET", RP_PATH + "/f")
        self.assertEqual(code, 404)

    # -- list ---------------------------------------------------------------------------------

    def test_list(self):
        for i in range(5):
            self.create(policy("l%d" % i, labels={"n": str(i), "tier": "a" if i < 3 else "b"}))
        code, out = self.req("GET", RP_PATH)
        self.assertEqual(out["kind"], "RetentionPolicyList")
        self.assertEqual([o["metadata"]["name"] for o in out["items"]],
                         ["l0", "l1", "l2", "l3", "l4"])
        rv_list = int(out["metadata"]["resourceVersion"])
        self.assertEqual(rv_list, max(int(o["metadata"]["resourceVersion"])
                                      for o in out["items"]))
        code, out = self.req("GET", RP_PATH, query={"labelSelector": "tier=a,n notin (1)"})
        self.assertEqual([o["metadata"]["name"] for o in out["items"]], ["l0", "l2"])
        code, out = self.req("GET", RP_PATH, query={"fieldSelector": "metadata.name=l3"})
        self.assertEqual([o["metadata"]["name"] for o in out["items"]], ["l3"])
        code, out = self.req("GET", RP_PATH, query={"fieldSelector": "spec.suspend=true"})
        self.assertStatus(out, 400, "BadRequest")
        self.assertEqual(out["message"], "field label not supported: spec.suspend")
        # pages at one resourceVersion, consistent although a write happens in between
        code, p1 = self.req("GET", RP_PATH, query={"limit": 2})
        self.assertEqual(len(p1["items"]), 2)
        self.assertEqual(p1["metadata"]["remainingItemCount"], 3)
        self.req("DELETE", RP_PATH + "/l4")
        code, p2 = self.req("GET", RP_PATH, query={"limit": 2,
                                                   "continue": p1["metadata"]["continue"]})
        code, p3 = self.req("GET", RP_PATH, query={"limit": 2,
                                                   "continue": p2["metadata"]["continue"]})
        names = [o["metadata"]["name"] for p in (p1, p2, p3) for o in p["items"]]
        self.assertEqual(names, ["l0", "l1", "l2", "l3", "l4"])
        self.assertNotIn("continue", p3["metadata"])
        # exact list at an older resourceVersion
        code, old = self.req("GET", RP_PATH, query={"resourceVersion": str(rv_list),
                                                    "resourceVersionMatch": "Exact"})
        self.assertEqual(len(old["items"]), 5)
        # compaction expires old exact lists and continue tokens
        self.emu.fault(action="compact")
        code, out = self.req("GET", RP_PATH, query={"resourceVersion": str(rv_list),
                                                    "resourceVersionMatch": "Exact"})
        self.assertStatus(out, 410, "Expired")
        code, out = self.req("GET", RP_PATH, query={"limit": 2,
                                                    "continue": p1["metadata"]["continue"]})
        self.assertStatus(out, 410, "Expired")
        # a resourceVersion from the future
        code, out = self.req("GET", RP_PATH, query={"resourceVersion": "99999999"})
        self.assertStatus(out, 504, "Timeout")
        # Table
        code, out = self.req("GET", RP_PATH, headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        self.assertEqual(out["kind"], "Table")
        self.assertEqual([c["name"] for c in out["columnDefinitions"]],
                         ["Name", "Ready", "Usage", "Size", "Limit", "LastRun", "LastRunTime",
                          "Age"])
        self.assertEqual(out["rows"][0]["object"]["kind"], "PartialObjectMetadata")

    # -- watch --------------------------------------------------------------------------------

    def test_watch_order_and_bookmarks(self):
        base = self.create(policy("w0"))
        rv0 = base["metadata"]["resourceVersion"]
        with self.emu.watch(RP_PATH, resourceVersion=rv0, allowWatchBookmarks="true",
                            timeoutSeconds="30") as w:
            self.assertEqual(w.status, 200)
            self.create(policy("w1"))
            self.req("PATCH", RP_PATH + "/w1", {"spec": {"suspend": True}},
                     "application/merge-patch+json")
            self.req("PATCH", RP_PATH + "/w1/status", {"status": {"observedGeneration": 2}},
                     "application/merge-patch+json")
            self.req("DELETE", RP_PATH + "/w0")
            seen = []
            bookmarks = []
            while len(seen) < 4:
                ev = w.next(5)
                self.assertIsNotNone(ev)
                if ev["type"] == "BOOKMARK":
                    bookmarks.append(ev)
                    continue
                seen.append(ev)
            self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in seen],
                             [("ADDED", "w1"), ("MODIFIED", "w1"), ("MODIFIED", "w1"),
                              ("DELETED", "w0")])
            rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
            self.assertEqual(rvs, sorted(rvs))
            self.assertGreater(rvs[0], int(rv0))
            self.assertEqual([e["object"]["metadata"]["generation"] for e in seen[:3]],
                             [1, 2, 2])
            # bookmarks come by themselves (interval 0.3 s) and on demand
            ev = w.next(5)
            while ev["type"] != "BOOKMARK":
                ev = w.next(5)
            self.assertEqual(ev["object"]["kind"], "RetentionPolicy")
            self.assertEqual(set(ev["object"]["metadata"]), {"resourceVersion"})
            self.assertGreaterEqual(int(ev["object"]["metadata"]["resourceVersion"]), rvs[-1])

    def test_watch_initial_state_selector_and_timeout(self):
        self.create(policy("s1", labels={"app": "x"}))
        self.create(policy("s2"))
        with self.emu.watch(RP_PATH, labelSelector="app=x", timeoutSeconds="4") as w:
            ev = w.next(5)
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "s1"))
            # s2 starts matching: ADDED; stops matching: DELETED
            self.req("PATCH", RP_PATH + "/s2", {"metadata": {"labels": {"app": "x"}}},
                     "application/merge-patch+json")
            ev = w.next(5)
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "s2"))
            self.req("PATCH", RP_PATH + "/s2", {"metadata": {"labels": None}},
                     "application/merge-patch+json")
            ev = w.next(5)
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "s2"))
            self.assertIsNone(w.next(10))  # timeoutSeconds ends the stream cleanly

    def test_watch_gone_after_compaction(self):
        obj = self.create(policy("c1"))
        rv = obj["metadata"]["resourceVersion"]
        self.req("PATCH", RP_PATH + "/c1", {"spec": {"suspend": True}},
                 "application/merge-patch+json")
        out = self.emu.fault(action="compact")
        self.assertGreater(out["compactedResourceVersion"], int(rv))
        with self.emu.watch(RP_PATH, resourceVersion=rv) as w:
            self.assertEqual(w.status, 200)
            ev = w.next(5)
            self.assertEqual(ev["type"], "ERROR")
            st = ev["object"]
            self.assertEqual((st["kind"], st["code"], st["reason"]), ("Status", 410, "Expired"))
            self.assertIn("too old resource version: %s" % rv, st["message"])
            self.assertIsNone(w.next(5))
        # relist then watch from the list's resourceVersion works
        code, lst = self.req("GET", RP_PATH)
        with self.emu.watch(RP_PATH, resourceVersion=lst["metadata"]["resourceVersion"]) as w:
            self.req("DELETE", RP_PATH + "/c1")
            ev = w.next(5)
            self.assertEqual(ev["type"], "DELETED")

    # -- built-ins ----------------------------------------------------------------------------

    def test_events_both_apis(self):
        core = {"metadata": {"name": "e1", "namespace": "kagent"},
                "involvedObject": {"kind": "RetentionPolicy", "name": "default",
                                   "namespace": "kagent", "apiVersion": "kagent.dev/v1alpha1"},
                "reason": "PruneFailed", "message": "database is locked", "type": "Warning",
                "count": 1, "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:00Z", "source": {"component": "retention"}}
        out = self.create(core, EV_CORE)
        core["count"] = 2
        core["metadata"] = out["metadata"]
        code, out = self.req("PUT", EV_CORE + "/e1", core)
        self.assertEqual((code, out["count"]), (200, 2))
        code, v1 = self.req("GET", EV_V1 + "/e1")
        self.assertEqual((v1["note"], v1["regarding"]["name"], v1["deprecatedCount"]),
                         ("database is locked", "default", 2))
        code, lst = self.req("GET", EV_CORE, query={
            "fieldSelector": "involvedObject.name=default,involvedObject.kind=RetentionPolicy,"
                             "type=Warning"})
        self.assertEqual([e["metadata"]["name"] for e in lst["items"]], ["e1"])
        # events.k8s.io/v1 requires its fields
        code, err = self.req("POST", EV_V1, {"metadata": {"name": "e2"}, "reason": "X",
                                             "regarding": {"kind": "Pod", "name": "p",
                                                           "namespace": "kagent"}})
        self.assertStatus(err, 422, "Invalid")
        fields = {c["field"] for c in err["details"]["causes"]}
        self.assertTrue({"eventTime", "reportingController", "reportingInstance",
                         "action"} <= fields, fields)
        # a series update through a merge patch, as an aggregating recorder does
        ev = self.create({"metadata": {"name": "e3"}, "eventTime": "2026-01-01T00:00:00.000000Z",
                          "reportingController": "kagent.dev/retention",
                          "reportingInstance": "p", "action": "Prune", "reason": "PruneSucceeded",
                          "type": "Normal", "note": "ok", "regarding": {
                              "kind": "RetentionPolicy", "name": "default", "namespace": "kagent"}},
                         EV_V1)
        code, out = self.req("PATCH", EV_V1 + "/e3", {"series": {
            "count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}},
            "application/merge-patch+json")
        self.assertEqual((code, out["series"]["count"]), (200, 2), out)
        self.assertTrue(ev["metadata"]["uid"])

    def test_leases(self):
        lease = {"metadata": {"name": "kagent-retention"}, "spec": {
            "holderIdentity": "a", "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0}}
        out = self.create(lease, LEASES)
        b = json.loads(json.dumps(out))
        b["spec"]["holderIdentity"] = "b"
        code, won = self.req("PUT", LEASES + "/kagent-retention", b)
        self.assertEqual(code, 200)
        out["spec"]["holderIdentity"] = "c"
        code, err = self.req("PUT", LEASES + "/kagent-retention", out)
        self.assertStatus(err, 409, "Conflict")
        code, err = self.req("PATCH", LEASES + "/kagent-retention", {"spec": {
            "leaseDurationSeconds": 0}}, "application/merge-patch+json")
        self.assertStatus(err, 422, "Invalid")
        code, _ = self.req("DELETE", LEASES + "/kagent-retention")
        self.assertEqual(code, 200)

    def test_pods_strategic_merge(self):
        code, pods = self.req("GET", "/api/v1/namespaces/kagent/pods",
                              query={"labelSelector": "app.kubernetes.io/component=controller"})
        pod = pods["items"][0]
        self.assertNotIn("kind", pod)  # items of built-in lists carry no kind
        name = pod["metadata"]["name"]
        code, out = self.req("PATCH", "/api/v1/namespaces/kagent/pods/" + name, {
            "metadata": {"labels": {"extra": "1"}},
            "spec": {"containers": [{"name": "retention", "image": "kagent-retention:v2"}]}},
            "application/strategic-merge-patch+json")
        self.assertEqual(code, 200, out)
        images = {c["name"]: c["image"] for c in out["spec"]["containers"]}
        self.assertEqual(images["retention"], "kagent-retention:v2")
        self.assertIn("controller", images)
        self.assertEqual(out["status"]["phase"], "Running")
        code, out = self.req("GET", "/api/v1/namespaces/nowhere/pods/x")
        self.assertStatus(out, 404, "NotFound")
        code, out = self.req("POST", "/api/v1/namespaces/nowhere/pods", {
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
        self.assertStatus(out, 404, "NotFound")
        self.assertEqual(out["message"], 'namespaces "nowhere" not found')


if __name__ == "__main__":
    unittest.main()
