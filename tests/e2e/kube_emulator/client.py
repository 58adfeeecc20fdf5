# SPDX-License-Identifier: Apache-2.0
"""Test helper: start the emulator as a subprocess in a temporary directory, wait for it by
polling (never a fixed sleep), and talk to it: raw HTTPS requests, watches, faults, kubectl.

    with EmulatorProcess() as emu:
        code, body = emu.request("GET", "/api/v1/namespaces/kagent/pods")
        emu.kubectl("apply", "-f", path)
        emu.fault(action="error", code=500, verb="list", count=2)
"""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "kube-emulator")
DEFAULT_FIXTURE = os.path.join(HERE, "fixtures", "kagent.yaml")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; raise TimeoutError after 'timeout' s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Watch:
    """A raw watch stream: newline-delimited JSON events over chunked transfer encoding."""

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.partial = b""

    def next(self, timeout=10.0):
        """The next event (dict), or None at the end of the stream. A line cut mid-event is
        returned as {"type": "_PARTIAL", "raw": bytes}."""
        self.conn.sock.settimeout(timeout)
        try:
            line = self.resp.readline()
        except http.client.IncompleteRead as e:
            return {"type": "_PARTIAL", "raw": e.partial}
        except (ConnectionError, ssl.SSLError, OSError) as e:
            if isinstance(e, TimeoutError) or "timed out" in str(e):
                raise TimeoutError("no watch event within %.1fs" % timeout)
            return None
        if not line:
            return None
        if not line.endswith(b"\n"):
            return {"type": "_PARTIAL", "raw": line}
        return json.loads(line)

    def events(self, n, timeout=10.0):
        out = []
        while len(out) < n:
            ev = self.next(timeout)
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class EmulatorProcess:
    def __init__(self, workdir=None, fixtures=(DEFAULT_FIXTURE,), args=(), start_timeout=30.0,
                 python=None):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="kube-emulator-")
        self.fixtures = list(fixtures)
        self.args = list(args)
        self.start_timeout = start_timeout
        self.python = python or sys.executable
        self.proc = None
        self.info = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        ready = os.path.join(self.dir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [self.python, LAUNCHER, "--dir", self.dir]
        for f in self.fixtures:
            cmd += ["--fixture", f]
        cmd += self.args
        self.log = open(os.path.join(self.dir, "emulator.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

        def is_ready():
            if self.proc.poll() is not None:
                raise RuntimeError("kube-emulator exited with %s; log: %s" % (
                    self.proc.returncode, self.read_log()))
            return os.path.exists(ready)

        wait_until(is_ready, self.start_timeout, what="the emulator's ready file")
        with open(ready) as f:
            self.info = json.load(f)
        with open(self.info["adminTokenFile"]) as f:
            self.admin_token = f.read().strip()
        wait_until(lambda: self.healthy(), self.start_timeout, what="/readyz")
        return self

    def read_log(self):
        try:
            with open(os.path.join(self.dir, "emulator.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def healthy(self):
        try:
            code, _ = self.request("GET", "/readyz", token=None, timeout=2)
            return code == 200
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if self.own_dir and os.environ.get("KEEP_EMULATOR_DIR") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- facts --------------------------------------------------------------------------------

    @property
    def port(self):
        return self.info["port"]

    @property
    def server(self):
        return self.info["server"]

    @property
    def kubeconfig(self):
        return self.info["kubeconfig"]

    @property
    def token(self):
        with open(self.info["tokenFile"]) as f:
            return f.read().strip()

    def ssl_context(self, client_cert=False):
        ctx = ssl.create_default_context(cafile=self.info["caFile"])
        if client_cert:
            ctx.load_cert_chain(os.path.join(self.dir, "client.crt"),
                                os.path.join(self.dir, "client.key"))
        return ctx

    # -- HTTP ---------------------------------------------------------------------------------

    def connection(self, timeout=10, client_cert=False):
        return http.client.HTTPSConnection(self.info["address"], self.port, timeout=timeout,
                                           context=self.ssl_context(client_cert))

    def request(self, method, path, body=None, content_type="application/json", token="",
                headers=None, timeout=10, query=None, raw=False, client_cert=False):
        """Returns (status code, parsed JSON body or text). token "" = the controller's token,
        None = no credentials. With raw=True returns (code, headers, bytes)."""
        if query:
            path += ("&" if "?" in path else "?") + urlencode(query)
        hdrs = {"Accept": "application/json"}
        if token == "":
            token = self.token
        if token:
            hdrs["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        conn = self.connection(timeout, client_cert)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            if raw:
                return resp.status, resp.headers, payload
            try:
                parsed = json.loads(payload) if payload else None
            except ValueError:
                parsed = payload.decode(errors="replace")
            return resp.status, parsed
        finally:
            conn.close()

    def watch(self, path, token="", timeout=10, **params):
        """Open a watch (adds watch=1); returns a Watch."""
        q = dict(params)
        q["watch"] = "1"
        path += ("&" if "?" in path else "?") + urlencode(q)
        conn = self.connection(timeout)
        hdrs = {"Accept": "application/json"}
        if token == "":
            token = self.token
        if token:
            hdrs["Authorization"] = "Bearer " + token
        conn.request("GET", path, headers=hdrs)
        return Watch(conn, conn.getresponse())

    # -- control ------------------------------------------------------------------------------

    def control(self, method, what, body=None):
        code, out = self.request(method, "/_emulator/" + what, body, token=self.admin_token)
        if code != 200:
            raise RuntimeError("control %s %s: %s %s" % (method, what, code, out))
        return out

    def fault(self, **kw):
        return self.control("POST", "faults", kw)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def requests(self, since=0):
        return self.control("GET", "requests?since=%d" % since)["requests"]

    def state(self):
        return self.control("GET", "state")

    # -- kubectl ------------------------------------------------------------------------------

    def kubectl_env(self):
        env = dict(os.environ)
        env["KUBECONFIG"] = self.kubeconfig
        env["KUBECACHEDIR"] = os.path.join(self.dir, "kubectl-cache")
        env["HOME"] = self.dir
        return env

    def kubectl(self, *args, input=None, check=False, timeout=60):
        p = subprocess.run(["kubectl"] + list(args), input=input, capture_output=True,
                           text=True, env=self.kubectl_env(), timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p
