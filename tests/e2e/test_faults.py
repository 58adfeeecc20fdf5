# SPDX-License-Identifier: Apache-2.0
"""Fault injection through the admin-only control endpoint: 500 and 429 (Retry-After) for the
next N matching requests, stalls, RBAC denials, dropped and cut watches, the API going down for
a while, token rotation and revocation."""
import socket
import time
import unittest

from common import RP_PATH
from kube_emulator.client import EmulatorProcess, wait_until


class FaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess().start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.emu.clear_faults()

    def req(self, *a, **kw):
        return self.emu.request(*a, **kw)

    def test_control_needs_admin_token(self):
        code, out = self.req("POST", "/_emulator/faults", {"action": "compact"})
        self.assertEqual(code, 403)
        code, out = self.req("POST", "/_emulator/faults", {"action": "compact"}, token=None)
        self.assertEqual(code, 403)

    def test_errors_for_n_requests(self):
        self.emu.fault(action="error", code=500, verb="list", resource="retentionpolicies",
                       count=2)
        for _ in range(2):
            code, out = self.req("GET", RP_PATH)
            self.assertEqual((code, out["reason"]), (500, "InternalError"))
            self.assertEqual(out["message"], "Internal error occurred: injected fault")
        self.assertEqual(self.req("GET", RP_PATH)[0], 200)
        # other verbs and paths are not affected
        self.emu.fault(action="error", code=500, path="/pods", count=1)
        self.assertEqual(self.req("GET", RP_PATH)[0], 200)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/kagent/pods")[0], 500)

    def test_too_many_requests(self):
        self.emu.fault(action="error", code=429, retryAfter=2, count=1)
        code, hdrs, body = self.req("GET", RP_PATH, raw=True)
        self.assertEqual(code, 429)
        self.assertEqual(hdrs["Retry-After"], "2")
        self.assertIn(b'"reason":"TooManyRequests"', body)
        self.assertIn(b'"retryAfterSeconds":2', body)

    def test_stall(self):
        self.emu.fault(action="stall", ms=1500, verb="get", count=1)
        t = time.monotonic()
        self.req("GET", "/api/v1/namespaces/kagent")
        self.assertGreaterEqual(time.monotonic() - t, 1.5)
        t = time.monotonic()
        self.req("GET", "/api/v1/namespaces/kagent")
        self.assertLess(time.monotonic() - t, 1.5)

    def test_rbac_deny(self):
        self.req("POST", RP_PATH, {"metadata": {"name": "d"}, "spec": {}})
        self.emu.fault(action="deny", verb="patch", resource="retentionpolicies/status")
        code, out = self.req("PATCH", RP_PATH + "/d/status", {"status": {}},
                             "application/merge-patch+json")
        self.assertEqual((code, out["reason"]), (403, "Forbidden"))
        self.assertEqual(out["message"], 'retentionpolicies.kagent.dev "d" is forbidden: User '
                         '"system:serviceaccount:kagent:kagent-controller" cannot patch resource '
                         '"retentionpolicies/status" in API group "kagent.dev" in the namespace '
                         '"kagent"')
        self.assertEqual(out["details"], {"name": "d", "group": "kagent.dev",
                                          "kind": "retentionpolicies"})
        # the main resource is still writable; the denial lasts until cleared
        code, _ = self.req("PATCH", RP_PATH + "/d", {"spec": {"suspend": True}},
                           "application/merge-patch+json")
        self.assertEqual(code, 200)
        self.assertEqual(self.req("PATCH", RP_PATH + "/d/status", {"status": {}},
                                  "application/merge-patch+json")[0], 403)
        self.emu.fault(action="deny", verb="get", resource="pods")
        code, out = self.req("GET", "/api/v1/namespaces/kagent/pods/x")
        self.assertIn('cannot get resource "pods" in API group "" in the namespace "kagent"',
                      out["message"])
        self.emu.clear_faults()
        self.assertEqual(self.req("PATCH", RP_PATH + "/d/status", {"status": {}},
                                  "application/merge-patch+json")[0], 200)
        self.req("DELETE", RP_PATH + "/d")

    def test_drop_and_end_watches(self):
        with self.emu.watch(RP_PATH, resourceVersion="0") as w:
            wait_until(lambda: self.emu.state()["watches"] >= 1, what="the watch")
            out = self.emu.fault(action="dropWatches")
            self.assertGreaterEqual(out["dropped"], 1)
            self.assertIn(w.next(5), (None,))
        with self.emu.watch(RP_PATH, resourceVersion="0") as w:
            wait_until(lambda: self.emu.state()["watches"] >= 1, what="the watch")
            self.emu.fault(action="dropWatches", mode="end")
            self.assertIsNone(w.next(5))  # a clean end of the chunked stream

    def test_cut_watch_mid_event(self):
        self.emu.fault(action="cutWatch", count=1)
        with self.emu.watch(RP_PATH, timeoutSeconds="10") as w:
            self.req("POST", RP_PATH, {"metadata": {"name": "cut"}, "spec": {}})
            ev = w.next(5)
            self.assertEqual(ev["type"], "_PARTIAL")
            self.assertTrue(ev["raw"].startswith(b'{"type":"ADDED"'))
            self.assertFalse(ev["raw"].endswith(b"\n"))
        with self.emu.watch(RP_PATH) as w:  # the next watch is whole again
            ev = w.next(5)
            self.assertEqual(ev["type"], "ADDED")
        self.req("DELETE", RP_PATH + "/cut")

    def test_down_for_a_while(self):
        with self.emu.watch(RP_PATH) as w:
            wait_until(lambda: self.emu.state()["watches"] >= 1, what="the watch")
            self.emu.fault(action="down", seconds=1.5)
            t0 = time.monotonic()
            self.assertIsNone(w.next(5))  # open connections are closed

        def refused():
            try:
                s = socket.create_connection(("127.0.0.1", self.emu.port), timeout=1)
                s.close()
                return False
            except OSError:
                return True

        wait_until(refused, 3, what="the listener to close")
        wait_until(self.emu.healthy, 10, what="the API to come back")
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        self.assertEqual(self.req("GET", RP_PATH)[0], 200)

    def test_token_rotation_and_revocation(self):
        old = self.emu.token
        self.assertEqual(self.req("GET", RP_PATH, token=old)[0], 200)
        new = self.emu.fault(action="rotateToken", keepOld=True)["token"]
        self.assertEqual(self.emu.token, new)  # serviceaccount/token is rewritten
        self.assertEqual(self.req("GET", RP_PATH, token=old)[0], 200)
        self.assertEqual(self.req("GET", RP_PATH, token=new)[0], 200)
        newer = self.emu.fault(action="rotateToken")["token"]  # revokes the others
        self.assertEqual(self.req("GET", RP_PATH, token=old)[0], 401)
        self.assertEqual(self.req("GET", RP_PATH, token=new)[0], 401)
        self.assertEqual(self.req("GET", RP_PATH, token=newer)[0], 200)
        # the kubeconfig with tokenFile follows the rotation; the inline one does not
        p = self.emu.kubectl("--kubeconfig", self.emu.dir + "/kubeconfig-tokenfile", "get", "rp")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.emu.kubectl("get", "rp")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Unauthorized", p.stderr)
        # revoke everything by rewriting the tokens file
        self.emu.fault(action="setTokens", tokens=[{"token": old,
                                                    "user": "system:serviceaccount:kagent:"
                                                            "kagent-controller"}])
        self.assertEqual(self.req("GET", RP_PATH, token=newer)[0], 401)
        self.assertEqual(self.req("GET", RP_PATH, token=old)[0], 200)

    def test_request_log(self):
        seq = max([r["seq"] for r in self.emu.requests()] or [0])
        self.req("GET", RP_PATH, query={"labelSelector": "a=b"})
        log = self.emu.requests(since=seq)
        self.assertEqual([(r["verb"], r["resource"], r["code"]) for r in log],
                         [("list", "retentionpolicies", 200)])


if __name__ == "__main__":
    unittest.main()
