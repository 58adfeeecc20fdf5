# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes API server emulator: HTTPS, authentication, discovery, OpenAPI, the REST verbs
on built-in and custom resources, watches, Tables, and fault injection. See README.md."""

import base64
import copy
import csv
import io
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import openapi
from . import patch as patchlib
from . import resources as res
from . import schema as sch
from .store import Expired, SelectorError, Store, labels_match, parse_field_selector, \
    parse_label_selector

CONTROLLER_USER = "system:serviceaccount:kagent:kagent-controller"
MAX_BODY = 3 * 1024 * 1024
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz", "/version/"}
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        if not self.reason:
            del st["reason"]
        return st


def _details(rt, name=None, **extra):
    d = {}
    if name:
        d["name"] = name
    if rt is not None and rt.group:
        d["group"] = rt.group
    if rt is not None:
        d["kind"] = rt.plural
    d.update(extra)
    return d


def not_found(rt, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rt.qualified, name),
                    _details(rt, name))


def already_exists(rt, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rt.qualified, name),
                    _details(rt, name))


def conflict(rt, name, why=None):
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (rt.qualified, name, why), _details(rt, name))


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def internal(msg):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % msg,
                    {"causes": [{"message": msg}]})


def invalid(rt, name, errs):
    kind = "%s.%s" % (rt.kind, rt.group) if rt.group else rt.kind
    msgs = [str(e) for e in errs]
    body = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    d = {"name": name or "", "kind": rt.kind, "causes": [e.cause() for e in errs]}
    if rt.group:
        d["group"] = rt.group
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name or "", body), d)


# ---------------------------------------------------------------------------------------------
# TLS material


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d, client_user, client_groups, key_type="ec"):
    """CA, server certificate (SANs 127.0.0.1, ::1, localhost) and a client certificate, with
    ECDSA P-256 keys or, as kubeadm makes them by default, RSA 2048 keys."""
    if key_type == "rsa":
        newkey = ["-newkey", "rsa:2048", "-nodes"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *newkey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
             "-subj", "/CN=kube-emulator-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,"
                "keyEncipherment\nbasicConstraints=critical,CA:FALSE\n")
    _openssl("req", "-new", *newkey, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=kube-apiserver", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "30", "-extfile", "server.ext",
             cwd=d)
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
                "basicConstraints=critical,CA:FALSE\n")
    subj = "/CN=%s" % client_user + "".join("/O=%s" % g for g in client_groups)
    _openssl("req", "-new", *newkey, "-keyout", "client.key", "-out", "client.csr", "-subj", subj,
             cwd=d)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.crt", "-days", "30", "-extfile", "client.ext",
             cwd=d)
    for f in ("server.csr", "client.csr", "server.ext", "client.ext"):
        os.unlink(os.path.join(d, f))
    for f in ("ca.key", "server.key", "client.key"):
        os.chmod(os.path.join(d, f), 0o600)


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_atomic(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Tokens


class Tokens:
    """kube-apiserver --token-auth-file: token,user,uid,"group1,group2" per line; re-read when
    the file changes, so rewriting it rotates or revokes tokens."""

    def __init__(self, path):
        self.path = path
        self.sig = None
        self.table = {}
        self.lock = threading.Lock()

    def lookup(self, token):
        with self.lock:
            try:
                st = os.stat(self.path)
                sig = (st.st_mtime_ns, st.st_size, st.st_ino)
            except FileNotFoundError:
                sig = None
            if sig != self.sig:
                self.table = {}
                if sig:
                    with open(self.path) as f:
                        for row in csv.reader(f):
                            if len(row) < 2 or row[0].startswith("#"):
                                continue
                            groups = [g for g in (row[3].split(",") if len(row) > 3 else []) if g]
                            self.table[row[0].strip()] = (row[1].strip(), groups)
                self.sig = sig
            return self.table.get(token)

    @staticmethod
    def render(entries):
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        for e in entries:
            w.writerow([e["token"], e["user"], e.get("uid", e["user"]),
                        ",".join(e.get("groups") or [])])
        return out.getvalue()


def sa_groups(user):
    m = re.match(r"^system:serviceaccount:([^:]+):", user)
    g = ["system:serviceaccounts", "system:authenticated"]
    if m:
        g.insert(1, "system:serviceaccounts:" + m.group(1))
    return g


# ---------------------------------------------------------------------------------------------
# Faults


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, rule):
        with self.lock:
            rule["id"] = self.next_id
            self.next_id += 1
            self.rules.append(rule)
            return rule["id"]

    def clear(self, kind=None):
        with self.lock:
            self.rules = [r for r in self.rules if kind and r["action"] != kind]

    def list(self):
        with self.lock:
            return copy.deepcopy(self.rules)

    def take(self, action, req):
        """The first rule of 'action' matching the request; consumes one of its count."""
        with self.lock:
            for r in self.rules:
                if r["action"] != action or not _rule_matches(r, req):
                    continue
                if r.get("count") is not None:
                    r["count"] -= 1
                    if r["count"] <= 0:
                        self.rules.remove(r)
                return r
        return None


def _rule_matches(r, req):
    verbs = r.get("verb")
    if verbs and verbs != "*":
        if isinstance(verbs, str):
            verbs = [verbs]
        if req.verb not in verbs and req.method.lower() not in [v.lower() for v in verbs]:
            return False
    if r.get("path") and not re.search(r["path"], req.path):
        return False
    if r.get("resource"):
        want = r["resource"]
        have = req.resource + ("/" + req.subresource if req.subresource else "")
        if want != "*" and want != have and want != req.resource + "/*":
            return False
    if r.get("group") is not None and r.get("group") != req.group:
        return False
    if r.get("namespace") and r["namespace"] != req.namespace:
        return False
    if r.get("user") and r["user"] != req.user:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Requests


class Request:
    def __init__(self, h):
        self.h = h
        self.method = h.command
        u = urlsplit(h.path)
        self.path = u.path
        self.raw_query = u.query
        self.query = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        self.headers = h.headers
        self.body = b""
        self.user = None
        self.groups = []
        self.verb = ""
        self.group = None
        self.version = None
        self.resource = ""
        self.subresource = ""
        self.namespace = ""
        self.name = ""
        self.rt = None
        self.code = 0
        self.resp_headers = {}

    def flag(self, k):
        return self.query.get(k, "").lower() in ("1", "true", "yes")


class Watcher:
    def __init__(self, req):
        self.req = req
        self.drop = None  # "close" or "end"
        self.bookmark_now = False
        self.cut = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-emulator/1.32"
    sys_version = ""
    timeout = 300

    def do_GET(self):
        self.server.emu.dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, fmt, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, emu, ctx):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.emu = emu
        self.ctx = ctx
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            request.do_handshake()
            request.settimeout(None)
        except (OSError, ssl.SSLError):
            return
        self.emu.track(request, True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.emu.track(request, False)

    def handle_error(self, request, client_address):
        pass


# ---------------------------------------------------------------------------------------------
# The emulator


class Emulator:
    def __init__(self, workdir, address="127.0.0.1", port=0, crds=(), fixtures=(),
                 tokens_file=None, namespace="kagent", bookmark_interval=5.0,
                 watch_timeout=1800.0, user=CONTROLLER_USER, log_requests=None,
                 key_type="ec", tls_max="1.3"):
        self.dir = os.path.abspath(workdir)
        self.key_type = key_type
        self.tls_max = tls_max
        self.address = address
        self.port = port
        self.crd_paths = list(crds)
        self.fixture_paths = list(fixtures)
        self.tokens_path = tokens_file or os.path.join(self.dir, "tokens.csv")
        self.namespace = namespace
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.user = user
        self.store = Store()
        self.faults = Faults()
        self.tokens = Tokens(self.tokens_path)
        self.builtins = res.builtin_types()
        self.registry = {}
        self.rebuild_registry()
        self.watchers = set()
        self.conns = set()
        self.conn_lock = threading.Lock()
        self.reqlog = []
        self.reqseq = 0
        self.reqlog_lock = threading.Lock()
        self.log_requests = log_requests
        self.httpd = None
        self.stop_event = threading.Event()
        self.down_until = 0.0
        self.openapi_cache = {}
        self.admin_token = None

    # -- setup --------------------------------------------------------------------------------

    def setup(self):
        os.makedirs(self.dir, exist_ok=True)
        make_pki(self.dir, "kagent-retention-client", ["kagent-retention"], self.key_type)
        if not os.path.exists(self.tokens_path):
            token = secrets.token_urlsafe(32)
            write_atomic(self.tokens_path, Tokens.render([
                {"token": token, "user": self.user, "uid": str(uuid.uuid4()),
                 "groups": sa_groups(self.user)}]), 0o600)
        token = self._first_token_for(self.user)
        self.admin_token = secrets.token_urlsafe(32)
        write_atomic(os.path.join(self.dir, "admin-token"), self.admin_token + "\n", 0o600)
        sa = os.path.join(self.dir, "serviceaccount")
        os.makedirs(sa, exist_ok=True)
        write_atomic(os.path.join(sa, "token"), token or "", 0o600)
        with open(os.path.join(self.dir, "ca.crt")) as f:
            write_atomic(os.path.join(sa, "ca.crt"), f.read())
        write_atomic(os.path.join(sa, "namespace"), self.namespace)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.system_create(self.builtin("", "v1", "namespaces"),
                               {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns}})
        for p in self.crd_paths:
            for doc in self._load_docs(p):
                if doc.get("kind") == "CustomResourceDefinition":
                    self.system_create(self.builtin("apiextensions.k8s.io", "v1",
                                                    "customresourcedefinitions"), doc)
        for p in self.fixture_paths:
            for doc in self._load_docs(p):
                self.load_fixture(doc)

    def _first_token_for(self, user):
        try:
            with open(self.tokens_path) as f:
                for row in csv.reader(f):
                    if len(row) >= 2 and row[1].strip() == user:
                        return row[0].strip()
        except FileNotFoundError:
            pass
        return None

    @staticmethod
    def _load_docs(path):
        files = []
        if os.path.isdir(path):
            for n in sorted(os.listdir(path)):
                if n.endswith((".yaml", ".yml", ".json")) and n != "kustomization.yaml":
                    files.append(os.path.join(path, n))
        else:
            files.append(path)
        out = []
        for fp in files:
            with open(fp) as f:
                out.extend(d for d in yaml.safe_load_all(f) if isinstance(d, dict))
        return out

    def load_fixture(self, doc):
        av = doc.get("apiVersion", "")
        group, _, version = av.rpartition("/")
        rt = next((t for t in self.registry.values() if t.group == group and
                   t.version == version and t.kind == doc.get("kind")), None)
        if rt is None:
            raise SystemExit("fixture: no resource for %s %s" % (av, doc.get("kind")))
        if rt.namespaced:
            doc.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        self.system_create(rt, doc, keep_status=True)

    def system_create(self, rt, doc, keep_status=False):
        req = Request.__new__(Request)
        req.query = {}
        req.user = "system:apiserver"
        req.groups = ["system:masters"]
        req.resp_headers = {}
        ns = (doc.get("metadata") or {}).get("namespace", "") if rt.namespaced else ""
        status = copy.deepcopy(doc.get("status"))
        obj = self.create(req, rt, ns, copy.deepcopy(doc), rt.group + "/" + rt.version
                          if rt.group else "v1")
        if keep_status and status is not None and rt.status:
            with self.store.lock:
                cur = copy.deepcopy(self.store.get(rt.storage, ns, obj["metadata"]["name"]))
                cur["status"] = status
                self.store.write(rt.storage, cur, "MODIFIED",
                                 self.store.get(rt.storage, ns, obj["metadata"]["name"]))

    def start(self, ready_file=None):
        self.setup()
        self.ctx = self._tls_context()
        self.httpd = _Server((self.address, self.port), self, self.ctx)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.write_kubeconfigs()
        ready = {"pid": os.getpid(), "server": self.server_url(), "port": self.port,
                 "address": self.address, "dir": self.dir,
                 "kubeconfig": os.path.join(self.dir, "kubeconfig"),
                 "kubeconfigCert": os.path.join(self.dir, "kubeconfig-cert"),
                 "tokenFile": os.path.join(self.dir, "serviceaccount", "token"),
                 "tokensFile": self.tokens_path,
                 "adminTokenFile": os.path.join(self.dir, "admin-token"),
                 "caFile": os.path.join(self.dir, "ca.crt"),
                 "inCluster": {"KUBERNETES_SERVICE_HOST": self.address,
                               "KUBERNETES_SERVICE_PORT": str(self.port),
                               "serviceAccountDir": os.path.join(self.dir, "serviceaccount")}}
        write_atomic(ready_file or os.path.join(self.dir, "ready"), json.dumps(ready, indent=1))

    def _tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_max == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(os.path.join(self.dir, "server.crt"),
                            os.path.join(self.dir, "server.key"))
        ctx.load_verify_locations(os.path.join(self.dir, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def server_url(self):
        host = "[%s]" % self.address if ":" in self.address else self.address
        return "https://%s:%d" % (host, self.port)

    def write_kubeconfigs(self):
        ca = _b64file(os.path.join(self.dir, "ca.crt"))
        token = self._first_token_for(self.user) or ""

        def cfg(user):
            return yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": "kube-emulator", "cluster": {
                    "server": self.server_url(), "certificate-authority-data": ca}}],
                "contexts": [{"name": "kube-emulator", "context": {
                    "cluster": "kube-emulator", "user": "kagent-retention",
                    "namespace": self.namespace}}],
                "current-context": "kube-emulator",
                "users": [{"name": "kagent-retention", "user": user}]}, sort_keys=False)

        write_atomic(os.path.join(self.dir, "kubeconfig"), cfg({"token": token}), 0o600)
        write_atomic(os.path.join(self.dir, "kubeconfig-tokenfile"), cfg(
            {"tokenFile": os.path.join(self.dir, "serviceaccount", "token")}), 0o600)
        write_atomic(os.path.join(self.dir, "kubeconfig-cert"), cfg({
            "client-certificate-data": _b64file(os.path.join(self.dir, "client.crt")),
            "client-key-data": _b64file(os.path.join(self.dir, "client.key"))}), 0o600)

    def serve(self):
        self.stop_event.wait()
        self.shutdown()

    def shutdown(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        self.close_connections()

    def track(self, sock, add):
        with self.conn_lock:
            if add:
                self.conns.add(sock)
            else:
                self.conns.discard(sock)

    def close_connections(self):
        with self.conn_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def go_down(self, seconds):
        def run():
            time.sleep(0.05)
            self.down_until = time.time() + seconds
            old = self.httpd
            old.shutdown()
            old.server_close()
            self.close_connections()
            time.sleep(seconds)
            while not self.stop_event.is_set():
                try:
                    self.httpd = _Server((self.address, self.port), self, self.ctx)
                    break
                except OSError:
                    time.sleep(0.05)
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
            self.down_until = 0.0

        threading.Thread(target=run, daemon=True).start()

    # -- registry -----------------------------------------------------------------------------

    def rebuild_registry(self):
        reg = {}
        for rt in self.builtins:
            reg[(rt.group, rt.version, rt.plural)] = rt
        for crd in self.store.items(("apiextensions.k8s.io", "customresourcedefinitions")):
            if crd["metadata"].get("deletionTimestamp"):
                continue
            for rt in res.types_from_crd(crd):
                reg[(rt.group, rt.version, rt.plural)] = rt
        self.registry = reg
        self.openapi_cache = {}

    def builtin(self, group, version, plural):
        return next(t for t in self.builtins if (t.group, t.version, t.plural) ==
                    (group, version, plural))

    def groups(self):
        """[(group, [(version, [types])])] in discovery order (core first)."""
        order = []
        by = {}
        for rt in self.registry.values():
            if rt.group not in by:
                by[rt.group] = {}
                order.append(rt.group)
            by[rt.group].setdefault(rt.version, []).append(rt)
        order.sort(key=lambda g: (g != "", g not in ("events.k8s.io", "coordination.k8s.io",
                                                      "apiextensions.k8s.io"), g))
        return [(g, sorted(by[g].items(), key=lambda kv: _version_priority(kv[0])))
                for g in order]

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, h):
        t0 = time.time()
        req = Request(h)
        try:
            n = int(h.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge",
                               "Request entity too large: limit is %d" % MAX_BODY)
            if n:
                req.body = h.rfile.read(n)
            elif h.headers.get("Transfer-Encoding", "").lower() == "chunked":
                req.body = self._read_chunked(h)
            self.route(req)
        except ApiError as e:
            self.send_json(req, e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            h.close_connection = True
            req.code = req.code or -1
        except Exception as e:  # noqa: BLE001 - a handler bug must still answer
            traceback.print_exc()
            try:
                self.send_json(req, 500, internal(str(e)).status())
            except OSError:
                pass
        finally:
            self.log_request(req, t0)

    @staticmethod
    def _read_chunked(h):
        out = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
            if len(out) > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge", "Request entity too large")

    def log_request(self, req, t0):
        with self.reqlog_lock:
            self.reqseq += 1
            entry = {"seq": self.reqseq, "time": round(t0, 3), "method": req.method,
                     "path": req.path, "query": req.raw_query, "verb": req.verb,
                     "resource": req.resource + ("/" + req.subresource if req.subresource
                                                 else ""),
                     "namespace": req.namespace, "name": req.name, "user": req.user,
                     "code": req.code, "ms": round((time.time() - t0) * 1000, 1),
                     "contentType": req.headers.get("Content-Type", "") if req.headers else "",
                     "accept": req.headers.get("Accept", "") if req.headers else ""}
            if not req.path.startswith("/_emulator"):
                self.reqlog.append(entry)
                if len(self.reqlog) > 20000:
                    del self.reqlog[:10000]
        if self.log_requests:
            self.log_requests.write(json.dumps(entry) + "\n")
            self.log_requests.flush()

    # -- responses ----------------------------------------------------------------------------

    def send_json(self, req, code, obj, headers=None, content_type="application/json"):
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        h = req.h
        req.code = code
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    h.send_header(k, x)
            else:
                h.send_header(k, v)
        for k, v in req.resp_headers.items():
            for x in (v if isinstance(v, list) else [v]):
                h.send_header(k, x)
        h.end_headers()
        if req.method != "HEAD":
            h.wfile.write(body)
            h.wfile.flush()

    def warn(self, req, text):
        req.resp_headers.setdefault("Warning", []).append('299 - %s' % json.dumps(text))

    # -- authentication and routing -----------------------------------------------------------

    def authenticate(self, req):
        auth = req.headers.get("Authorization", "")
        if auth:
            if not auth.lower().startswith("bearer "):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            ent = self.tokens.lookup(auth[7:].strip())
            if ent is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            req.user, req.groups = ent
            if "system:authenticated" not in req.groups:
                req.groups = req.groups + ["system:authenticated"]
            return
        try:
            cert = req.h.connection.getpeercert()
        except (ValueError, AttributeError):
            cert = None
        if cert:
            cn = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
            orgs = [v for rdn in cert.get("subject", ()) for k, v in rdn
                    if k == "organizationName"]
            if cn:
                req.user = cn[0]
                req.groups = orgs + ["system:authenticated"]
                return
        req.user = "system:anonymous"
        req.groups = ["system:unauthenticated"]

    def route(self, req):
        path = req.path
        if path.startswith("/_emulator"):
            return self.control(req)
        self.authenticate(req)
        parts = [p for p in path.split("/") if p]
        self.classify(req, parts)
        if path not in PUBLIC_PATHS and req.user == "system:anonymous":
            if req.rt is not None:
                raise self.forbidden(req)
            raise ApiError(403, "Forbidden", 'forbidden: User "system:anonymous" cannot %s '
                           'path "%s"' % (req.method.lower(), path), {})
        stall = self.faults.take("stall", req)
        if stall:
            time.sleep(float(stall.get("ms", 1000)) / 1000.0)
        err = self.faults.take("error", req)
        if err:
            code = int(err.get("code", 500))
            if code == 429:
                ra = str(err.get("retryAfter", 1))
                raise ApiError(429, "TooManyRequests", err.get(
                    "message", "Too many requests, please try again later."),
                    {"causes": [{"message": "injected fault"}], "retryAfterSeconds": int(ra)},
                    {"Retry-After": ra})
            reasons = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
                       502: "InternalError"}
            msg = err.get("message", "injected fault")
            raise ApiError(code, reasons.get(code, "InternalError"),
                           "Internal error occurred: %s" % msg if code == 500 else msg,
                           {"causes": [{"message": msg}]})
        if req.rt is not None:
            deny = self.faults.take("deny", req)
            if deny:
                raise self.forbidden(req)
        if path in ("/healthz", "/livez", "/readyz"):
            req.code = 200
            return self.send_text(req, 200, "ok")
        if path in ("/version", "/version/"):
            return self.send_json(req, 200, {
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-emulator",
                "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                "compiler": "gc", "platform": "linux/amd64"})
        if not parts:
            return self.send_json(req, 200, {"paths": ["/api", "/api/v1", "/apis", "/healthz",
                                                       "/livez", "/openapi/v3", "/readyz",
                                                       "/version"]})
        if parts[0] == "openapi":
            return self.serve_openapi(req, parts)
        if parts == ["api"]:
            return self.serve_discovery(req, core=True)
        if parts == ["apis"]:
            return self.serve_discovery(req, core=False)
        if parts[0] in ("api", "apis") and req.rt is None:
            return self.serve_group_docs(req, parts)
        if req.rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        return self.serve_resource(req)

    def send_text(self, req, code, text):
        h = req.h
        req.code = code
        body = text.encode()
        h.send_response(code)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def classify(self, req, parts):
        """Fill verb, group, version, resource, namespace, name, subresource and rt."""
        if not parts or parts[0] not in ("api", "apis"):
            return
        if parts[0] == "api":
            if len(parts) < 2:
                return
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 3:
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            return
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and not (
                group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns = rest[1]
            rest = rest[2:]
        if len(rest) > 3:
            return
        rt = self.registry.get((group, version, rest[0]))
        if rt is None:
            return
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if ns and not rt.namespaced:
            return
        if rt.namespaced and name and not ns:
            return
        if sub and not (sub == "status" and rt.status):
            return
        req.group, req.version, req.resource = group, version, rt.plural
        req.namespace, req.name, req.subresource, req.rt = ns, name, sub, rt
        m = req.method
        if m in ("GET", "HEAD"):
            req.verb = "get" if name else ("watch" if req.flag("watch") else "list")
        elif m == "POST":
            req.verb = "create"
        elif m == "PUT":
            req.verb = "update"
        elif m == "PATCH":
            req.verb = "patch"
        elif m == "DELETE":
            req.verb = "delete" if name else "deletecollection"
        else:
            req.verb = m.lower()

    def forbidden(self, req):
        rt = req.rt
        r = rt.plural + ("/" + req.subresource if req.subresource else "")
        where = ('in the namespace "%s"' % req.namespace) if req.namespace else \
            "at the cluster scope"
        subject = '%s "%s"' % (rt.qualified, req.name) if req.name else rt.qualified
        msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
            subject, req.user, req.verb, r, rt.group, where)
        return ApiError(403, "Forbidden", msg, _details(rt, req.name))

    # -- discovery and OpenAPI ----------------------------------------------------------------

    def _agg_version(self, req):
        accept = req.headers.get("Accept", "")
        for part in accept.split(","):
            p = part.replace(" ", "")
            if "g=apidiscovery.k8s.io" in p and "as=APIGroupDiscoveryList" in p:
                if "v=v2beta1" in p:
                    return "v2beta1"
                if "v=v2" in p:
                    return "v2"
        return None

    def serve_discovery(self, req, core):
        groups = [g for g in self.groups() if (g[0] == "") == core]
        agg = self._agg_version(req)
        if agg:
            doc = openapi.aggregated(groups, agg)
            ctype = AGG_V2 if agg == "v2" else AGG_V2BETA1
            return self.send_json(req, 200, doc, content_type=ctype)
        if core:
            return self.send_json(req, 200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "%s:%d" % (self.address,
                                                                            self.port)}]})
        return self.send_json(req, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            self._group_doc(g, vs, kind=False) for g, vs in groups]})

    @staticmethod
    def _group_doc(g, vs, kind=True):
        versions = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v, _ in vs]
        d = {"name": g, "versions": versions, "preferredVersion": versions[0]}
        if kind:
            d = {"kind": "APIGroup", "apiVersion": "v1", **d}
        return d

    def serve_group_docs(self, req, parts):
        if parts[0] == "api" and len(parts) == 2 and parts[1] == "v1":
            return self.send_json(req, 200, openapi.resource_list(
                "v1", [t for t in self.registry.values() if t.group == ""]))
        if parts[0] == "apis" and len(parts) in (2, 3):
            for g, vs in self.groups():
                if g != parts[1] or not g:
                    continue
                if len(parts) == 2:
                    return self.send_json(req, 200, self._group_doc(g, vs))
                for v, types in vs:
                    if v == parts[2]:
                        return self.send_json(req, 200, openapi.resource_list(
                            "%s/%s" % (g, v), types))
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def _openapi_docs(self):
        if not self.openapi_cache:
            docs = {}
            for g, vs in self.groups():
                for v, types in vs:
                    key = "api/v1" if g == "" else "apis/%s/%s" % (g, v)
                    docs[key] = openapi.gv_document(key, types)
            self.openapi_cache = {k: (d, openapi.doc_hash(d)) for k, d in docs.items()}
        return self.openapi_cache

    def serve_openapi(self, req, parts):
        if len(parts) >= 2 and parts[1] == "v3":
            docs = self._openapi_docs()
            if len(parts) == 2:
                return self.send_json(req, 200, {"paths": {
                    k: {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (k, hsh)}
                    for k, (d, hsh) in sorted(docs.items())}})
            key = "/".join(parts[2:])
            if key in docs:
                return self.send_json(req, 200, docs[key][0], headers={
                    "Etag": '"%s"' % docs[key][1]})
        if len(parts) == 2 and parts[1] == "v2":
            # client-go reads OpenAPI v2 only as protobuf (gnostic openapi_v2.Document). An empty
            # document (swagger "2.0", info) makes kubectl fall back exactly as against a server
            # whose v2 spec lacks the kind: no client-side schema, mapping errors from discovery.
            return self.send_raw(req, 200, _OPENAPI_V2_PB, OPENAPI_V2_PB_TYPE)
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def send_raw(self, req, code, body, ctype):
        h = req.h
        req.code = code
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    # -- resources ----------------------------------------------------------------------------

    def serve_resource(self, req):
        rt = req.rt
        if req.verb not in rt.verbs and req.verb not in ("get", "update", "patch"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                           "the requested resource", {})
        gv = rt.api_version
        v = req.verb
        if v == "get":
            obj = self.store.get(rt.storage, req.namespace, req.name)
            if obj is None:
                raise not_found(rt, req.name)
            return self.respond_object(req, rt, obj)
        if v == "list":
            return self.serve_list(req, rt)
        if v == "watch":
            return self.serve_watch(req, rt)
        if v == "deletecollection":
            return self.serve_deletecollection(req, rt)
        if v == "delete":
            return self.serve_delete(req, rt)
        if v in ("create", "update", "patch"):
            ctype = (req.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            if v == "create":
                body = self.decode(req, ctype)
                if rt.namespaced and not req.namespace:
                    raise ApiError(404, "NotFound", "the server could not find the requested "
                                   "resource", {})
                self.check_namespace(req)
                self.check_body_type(rt, body)
                obj = self.create(req, rt, req.namespace, body, gv)
                return self.respond_object(req, rt, obj, 201)
            if v == "update":
                body = self.decode(req, ctype)
                self.check_body_type(rt, body)
                obj, created = self.update(req, rt, body, gv)
                return self.respond_object(req, rt, obj, 201 if created else 200)
            obj, created = self.patch(req, rt, ctype, gv)
            return self.respond_object(req, rt, obj, 201 if created else 200)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                       "requested resource", {})

    def decode(self, req, ctype):
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.safe_load(req.body.decode())
            return json.loads(req.body.decode() or "null")
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request("the object provided is unrecognized (must be of type %s): %s"
                              % (req.rt.kind if req.rt else "object", e))

    def check_body_type(self, rt, body):
        if not isinstance(body, dict):
            raise bad_request("the object provided is unrecognized (must be of type %s)"
                              % rt.kind)
        av = body.get("apiVersion")
        if av and av != rt.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (av, rt.api_version))
        k = body.get("kind")
        if k and k != rt.kind:
            raise bad_request("the kind in the data (%s) does not match the expected kind (%s)"
                              % (k, rt.kind))

    def check_namespace(self, req):
        if req.rt.namespaced and req.namespace:
            if self.store.get(("", "namespaces"), "", req.namespace) is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % req.namespace,
                               {"name": req.namespace, "kind": "namespaces"})

    def view(self, rt, obj):
        """The stored object as clients of 'rt' see it."""
        return rt.from_storage(copy.deepcopy(obj))

    def respond_object(self, req, rt, obj, code=200):
        out = self.view(rt, obj)
        table = self.table_accept(req)
        if table:
            return self.send_json(req, code, self.to_table(req, rt, [out], table,
                                                           out["metadata"].get(
                                                               "resourceVersion", "")))
        if self.partial_accept(req):
            return self.send_json(req, code, {"kind": "PartialObjectMetadata",
                                              "apiVersion": "meta.k8s.io/v1",
                                              "metadata": out["metadata"]})
        return self.send_json(req, code, out)

    @staticmethod
    def table_accept(req):
        for part in (req.headers.get("Accept") or "").split(","):
            p = part.replace(" ", "")
            if "as=Table" in p and "g=meta.k8s.io" in p:
                return "v1beta1" if "v=v1beta1" in p else "v1"
        return None

    @staticmethod
    def partial_accept(req):
        a = (req.headers.get("Accept") or "").replace(" ", "")
        first = a.split(",")[0]
        return "as=PartialObjectMetadata" in first and "g=meta.k8s.io" in first

    def to_table(self, req, rt, objs, version, rv, cont=None):
        include = req.query.get("includeObject", "Metadata")
        rows = []
        cols = None
        for o in objs:
            if rt.printer_columns is not None:
                cols = [res.NAME_COLUMN] + [
                    {"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                     "description": c.get("description") or "Custom resource definition column "
                     "(in JSONPath format): %s" % c["jsonPath"], "priority": c.get("priority", 0)}
                    for c in rt.printer_columns]
                cells = [o["metadata"]["name"]] + [res.crd_cell(c, o) for c in rt.printer_columns]
            elif rt.table is not None:
                core = rt.to_storage(copy.deepcopy(o)) if rt.group == "events.k8s.io" else o
                cols, cells = rt.table(core)
            else:
                cols, cells = res.default_table(o)
            row = {"cells": cells}
            if include == "Object":
                row["object"] = o
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": o["metadata"]}
            rows.append(row)
        if cols is None:
            if rt.printer_columns is not None:
                cols = [res.NAME_COLUMN] + [
                    {"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)}
                    for c in rt.printer_columns]
            elif rt.table is not None:
                cols = {"pods": res.POD_COLUMNS, "namespaces": res.NS_COLUMNS,
                        "leases": res.LEASE_COLUMNS, "events": res.EVENT_COLUMNS,
                        "customresourcedefinitions": res.CRD_COLUMNS}[rt.plural]
            else:
                cols = res.default_table({"metadata": {"name": ""}})[0]
        md = {"resourceVersion": rv}
        if cont:
            md["continue"] = cont
        return {"kind": "Table", "apiVersion": "meta.k8s.io/" + version, "metadata": md,
                "columnDefinitions": cols, "rows": rows}

    # -- list and watch -----------------------------------------------------------------------

    def selectors(self, req, rt):
        try:
            ls = parse_label_selector(req.query.get("labelSelector", ""))
            fs = parse_field_selector(req.query.get("fieldSelector", ""), rt.field_labels)
        except SelectorError as e:
            raise bad_request(str(e))

        def match(obj):
            if not labels_match(ls, obj["metadata"].get("labels")):
                return False
            for k, op, val in fs:
                have = res.field_value(rt, obj, k)
                if (have == val) != (op == "="):
                    return False
            return True

        return match

    def serve_list(self, req, rt):
        match = self.selectors(req, rt)
        q = req.query
        rv_param = q.get("resourceVersion", "")
        rv_match = q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        limit = int(q.get("limit") or 0)
        if rv_match and not rv_param:
            raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is "
                              "provided")
        if rv_match and rv_match not in ("Exact", "NotOlderThan"):
            raise bad_request('resourceVersionMatch: Unsupported value: "%s": supported values: '
                              '"Exact", "NotOlderThan"' % rv_match)
        start_after = None
        if cont:
            if rv_param:
                raise bad_request("specifying resource version is not allowed when using "
                                  "continue")
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode() + b"=="))
                snap_rv = int(tok["rv"])
                start_after = tok["start"]
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: incorrect encoded start "
                                  "resourceVersion (version meta.k8s.io/v1)")
            try:
                snap = self.store.snapshot(rt.storage, snap_rv)
            except Expired:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to "
                               "display a consistent list result. You can start a new list "
                               "without the continue parameter, or use the continue token in "
                               "this response to retrieve the remainder of the results. "
                               "Continuing with the provided token results in an inconsistent "
                               "list - objects that were created, modified, or deleted between "
                               "the time the first chunk was returned and now may show up in "
                               "the list.", {})
        else:
            exact = rv_match == "Exact" or (rv_param not in ("", "0") and limit > 0 and
                                            not rv_match)
            want = self._parse_rv(rv_param) if rv_param not in ("", "0") else None
            if want is not None:
                self.wait_for_rv(want)
            with self.store.lock:
                if exact and want is not None:
                    try:
                        snap = self.store.snapshot(rt.storage, want)
                    except Expired:
                        raise ApiError(410, "Expired", "The resourceVersion for the provided "
                                       "list is too old.", {})
                    snap_rv = want
                else:
                    snap = dict(self.store.bucket(rt.storage))
                    snap_rv = self.store.rv
        keys = sorted(k for k in snap if not req.namespace or k[0] == req.namespace)
        if start_after:
            keys = [k for k in keys if "%s/%s" % k > start_after]
        items = []
        next_key = None
        remaining = 0
        for k in keys:
            obj = snap[k]
            if not match(obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
            next_key = "%s/%s" % k
        md = {"resourceVersion": str(snap_rv)}
        cont_out = None
        if remaining:
            cont_out = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": snap_rv, "start": next_key}).encode()).decode(
            ).rstrip("=")
            md["continue"] = cont_out
            md["remainingItemCount"] = remaining
        views = [self.view(rt, o) for o in items]
        table = self.table_accept(req)
        if table:
            return self.send_json(req, 200, self.to_table(req, rt, views, table, str(snap_rv),
                                                          cont_out))
        a = (req.headers.get("Accept") or "").replace(" ", "").split(",")[0]
        if "as=PartialObjectMetadataList" in a:
            return self.send_json(req, 200, {
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": md, "items": [{"kind": "PartialObjectMetadata",
                                           "apiVersion": "meta.k8s.io/v1",
                                           "metadata": o["metadata"]} for o in views]})
        if rt.builtin:
            for o in views:
                o.pop("apiVersion", None)
                o.pop("kind", None)
        return self.send_json(req, 200, {"apiVersion": rt.api_version, "kind": rt.list_kind,
                                         "metadata": md, "items": views})

    @staticmethod
    def _parse_rv(s):
        try:
            v = int(s)
            if v < 0:
                raise ValueError
            return v
        except ValueError:
            raise bad_request('resourceVersion: Invalid value: "%s": must be a non-negative '
                              'integer' % s)

    def wait_for_rv(self, want):
        deadline = time.time() + 3.0
        with self.store.cond:
            while self.store.rv < want:
                left = deadline - time.time()
                if left <= 0:
                    raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d"
                                   % (want, self.store.rv), {"causes": [{
                                       "reason": "ResourceVersionTooLarge",
                                       "message": "Too large resource version"}],
                                       "retryAfterSeconds": 1})
                self.store.cond.wait(left)

    def serve_watch(self, req, rt):
        match = self.selectors(req, rt)
        q = req.query
        rv_param = q.get("resourceVersion", "")
        allow_bm = q.get("allowWatchBookmarks", "").lower() in ("true", "1")
        send_initial = q.get("sendInitialEvents", "").lower() in ("true", "1")
        if send_initial and q.get("resourceVersionMatch") != "NotOlderThan":
            raise invalid(rt, "", [sch.FieldError(sch.FORBIDDEN, "resourceVersionMatch",
                                                  detail="sendInitialEvents requires setting "
                                                  "resourceVersionMatch to NotOlderThan")])
        timeout = float(q.get("timeoutSeconds") or self.watch_timeout)
        deadline = time.time() + timeout
        table = self.table_accept(req)
        h = req.h
        w = Watcher(req)
        req.code = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()
        h.close_connection = True
        with self.conn_lock:
            self.watchers.add(w)

        def chunk(data):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        def out(etype, obj):
            if etype not in ("BOOKMARK", "ERROR"):
                obj = self.view(rt, obj)
                if table:
                    obj = self.to_table(req, rt, [obj], table,
                                        obj["metadata"].get("resourceVersion", ""))
            line = json.dumps({"type": etype, "object": obj}, separators=(",", ":"),
                              ensure_ascii=False).encode() + b"\n"
            if w.cut or self.faults.take("cutWatch", req):
                chunk(line[:max(1, len(line) // 2)])
                raise ConnectionAbortedError("cut by fault injection")
            chunk(line)

        def bookmark(rv, extra_ann=None):
            md = {"resourceVersion": str(rv)}
            if extra_ann:
                md["annotations"] = extra_ann
            out("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md})

        def in_scope(obj):
            return (not req.namespace or obj["metadata"].get("namespace") == req.namespace)

        try:
            initial = []
            with self.store.lock:
                if rv_param in ("", "0") or send_initial:
                    pos = self.store.rv
                    if rv_param not in ("", "0"):
                        pos = max(pos, self._parse_rv(rv_param))
                    initial = [copy.deepcopy(o) for o in self.store.items(rt.storage)
                               if in_scope(o) and match(o)]
                else:
                    pos = self._parse_rv(rv_param)
                    if pos < self.store.compaction_point():
                        expired_at = self.store.compaction_point()
                        initial = None
            if initial is None:
                reason = getattr(self, "gone_reason", "Expired")
                out("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "too old resource version: %d (%d)"
                              % (pos, expired_at), "reason": reason, "code": 410})
                chunk(b"")
                return
            for o in initial:
                out("ADDED", o)
            if send_initial and allow_bm:
                bookmark(pos, {"k8s.io/initial-events-end": "true"})
            last_bm = time.time()
            while True:
                with self.store.cond:
                    while True:
                        if w.drop or w.bookmark_now or self.stop_event.is_set():
                            break
                        if self.store.log_rvs and self.store.log_rvs[-1] > pos:
                            break
                        now = time.time()
                        wake = deadline
                        if allow_bm:
                            wake = min(wake, last_bm + self.bookmark_interval)
                        if now >= wake:
                            break
                        self.store.cond.wait(min(wake - now, 1.0))
                    try:
                        evs = self.store.events_after(pos)
                    except Expired:
                        evs = None
                        expired_at = self.store.compaction_point()
                    head = self.store.rv
                if w.drop == "close":
                    raise ConnectionAbortedError("dropped by fault injection")
                if evs is None:
                    out("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": "too old resource version: "
                                  "%d (%d)" % (pos, expired_at), "reason": "Expired",
                                  "code": 410})
                    break
                for erv, skey, etype, obj, prev in evs:
                    pos = erv
                    if skey != rt.storage:
                        continue
                    now_in = in_scope(obj) and match(obj) and etype != "DELETED"
                    was_in = prev is not None and in_scope(prev) and match(prev)
                    if etype == "DELETED":
                        if in_scope(obj) and match(obj):
                            out("DELETED", obj)
                    elif now_in and was_in:
                        out("MODIFIED", obj)
                    elif now_in:
                        out("ADDED", obj)
                    elif was_in:
                        out("DELETED", obj)
                pos = max(pos, head) if not evs else pos
                if w.drop == "end" or self.stop_event.is_set():
                    break
                now = time.time()
                if allow_bm and (w.bookmark_now or now - last_bm >= self.bookmark_interval):
                    w.bookmark_now = False
                    bookmark(pos)
                    last_bm = now
                w.bookmark_now = False
                if now >= deadline:
                    break
            chunk(b"")
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError, ssl.SSLError,
                OSError):
            try:
                req.h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            with self.conn_lock:
                self.watchers.discard(w)

    # -- writes -------------------------------------------------------------------------------

    def field_validation(self, req):
        fv = req.query.get("fieldValidation", "Warn") or "Warn"
        if fv not in ("Ignore", "Warn", "Strict"):
            raise bad_request('fieldValidation: Unsupported value: "%s": supported values: '
                              '"Ignore", "Warn", "Strict"' % fv)
        return fv

    def prepare(self, req, rt, obj):
        """Pruning (with fieldValidation), nulls and defaults of a custom resource."""
        if rt.schema is None:
            return
        unknown = []
        sch.prune(obj, rt.schema, "", unknown)
        fv = self.field_validation(req)
        if unknown and fv == "Strict":
            raise bad_request('%s in version "%s" cannot be handled as a %s: strict decoding '
                              'error: %s' % (rt.kind, rt.version, rt.kind, ", ".join(
                                  'unknown field "%s"' % u for u in unknown)))
        if unknown and fv == "Warn":
            for u in unknown:
                self.warn(req, 'unknown field "%s"' % u)
        sch.drop_nulls(obj, rt.schema)
        sch.apply_defaults(obj, rt.schema)

    def validate(self, rt, obj, create, request_gv):
        errs = []
        res.validate_meta(rt, obj, errs, create)
        if rt.schema is not None:
            body = {k: v for k, v in obj.items() if k != "metadata"}
            sch.validate(body, rt.schema, "", errs)
        if rt.validate_fn is not None:
            rt.validate_fn(obj, errs, create, request_gv)
        if errs:
            raise invalid(rt, obj["metadata"].get("name", ""), errs)

    def _clean_meta(self, md):
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation", "selfLink", "managedFields"):
            md.pop(k, None)

    def create(self, req, rt, ns, body, gv):
        obj = rt.to_storage(copy.deepcopy(body))
        obj["apiVersion"] = "v1" if rt.storage == ("", "events") else rt.api_version
        obj["kind"] = rt.kind
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise internal("resourceVersion should not be set on objects to be created")
        self._clean_meta(md)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        self.prepare(req, rt, obj)
        if rt.status and rt.schema is not None:
            obj.pop("status", None)
        if rt.plural == "namespaces":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md.get("name", "")
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        self.validate(rt, obj, True, gv)
        with self.store.lock:
            if self.store.get(rt.storage, ns if rt.namespaced else "", md["name"]) is not None:
                raise already_exists(rt, md["name"])
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = res.now_rfc3339()
            if rt.generation:
                md["generation"] = 1
            if rt.plural == "customresourcedefinitions":
                self._crd_status(obj)
            if self._dry_run(req):
                return obj
            self.store.write(rt.storage, obj, "ADDED")
            if rt.plural == "customresourcedefinitions":
                self.rebuild_registry()
        return obj

    @staticmethod
    def _dry_run(req):
        return req.query.get("dryRun") == "All"

    def _crd_status(self, crd):
        t = res.now_rfc3339()
        spec = crd.get("spec") or {}
        crd["status"] = {
            "acceptedNames": spec.get("names") or {},
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": t},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": t}],
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")]}

    def update(self, req, rt, body, gv, patched_from=None):
        """PUT (and the tail of PATCH). Returns (object, created)."""
        name = req.name
        obj = rt.to_storage(copy.deepcopy(body))
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        if md.get("name") and md["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL "
                              "(%s)" % (md["name"], name))
        if rt.namespaced and md.get("namespace") and md["namespace"] != req.namespace:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        with self.store.lock:
            old = self.store.get(rt.storage, req.namespace, name)
            if old is None:
                if rt.create_on_update and not req.subresource and patched_from is None:
                    self.check_namespace(req)
                    md["name"] = name
                    md.pop("resourceVersion", None)
                    return self.create(req, rt, req.namespace, obj, gv), True
                raise not_found(rt, name)
            rv = md.get("resourceVersion")
            if not rv and patched_from is None and not rt.unconditional_update:
                raise invalid(rt, name, [sch.FieldError(sch.INVALID, "metadata.resourceVersion",
                                                        0, "must be specified for an update")])
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            obj["apiVersion"] = old["apiVersion"]
            obj["kind"] = old["kind"]
            self.prepare(req, rt, obj)
            new = self._strategy(req, rt, old, obj)
            self.validate(rt, new, False, gv)
            if _same_content(new, old):
                return old, False
            if self._dry_run(req):
                return new, False
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get(
                    "finalizers"):
                self.store.write(rt.storage, new, "DELETED", old)
                self._after_delete(rt, new)
                return new, False
            self.store.write(rt.storage, new, "MODIFIED", old)
            if rt.plural == "customresourcedefinitions":
                self.rebuild_registry()
            return new, False

    def _strategy(self, req, rt, old, obj):
        """PrepareForUpdate: subresource isolation, immutable metadata, generation."""
        if req.subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            return new
        new = obj
        md = new["metadata"]
        om = old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation", "namespace", "name", "resourceVersion"):
            if k in om:
                md[k] = om[k]
            else:
                md.pop(k, None)
        md.pop("managedFields", None)
        md.pop("selfLink", None)
        if rt.status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if rt.plural == "namespaces":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
            new["spec"] = old.get("spec", {})
        if rt.generation:
            skip = {"metadata", "status"} if rt.status else {"metadata"}
            a = {k: v for k, v in new.items() if k not in skip}
            b = {k: v for k, v in old.items() if k not in skip}
            if a != b:
                md["generation"] = int(om.get("generation", 1)) + 1
        if rt.plural == "customresourcedefinitions":
            new["status"] = old.get("status")
            self._crd_status(new)
        return new

    def patch(self, req, rt, ctype, gv):
        with self.store.lock:
            old = self.store.get(rt.storage, req.namespace, req.name)
            if ctype == "application/apply-patch+yaml":
                if not req.query.get("fieldManager"):
                    raise bad_request("PATCH /apply requires fieldManager")
                applied = self.decode(req, ctype)
                self.check_body_type(rt, applied)
                if old is None:
                    if req.subresource:
                        raise not_found(rt, req.name)
                    self.check_namespace(req)
                    applied.setdefault("metadata", {})["name"] = req.name
                    applied.pop("status", None) if rt.status and rt.schema else None
                    return self.create(req, rt, req.namespace, applied, gv), True
                cur = self.view(rt, old)
                merged = patchlib.apply_merge(cur, applied, rt.schema)
                merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                return self.update(req, rt, merged, gv, patched_from=old)
            if old is None:
                raise not_found(rt, req.name)
            body = self.decode(req, ctype)
            cur = self.view(rt, old)
            try:
                if ctype == "application/merge-patch+json":
                    if not isinstance(body, dict):
                        raise patchlib.PatchError("merge patch must be an object")
                    patched = patchlib.merge_patch(cur, body)
                elif ctype == "application/json-patch+json":
                    patched = patchlib.json_patch(cur, body)
                elif ctype == "application/strategic-merge-patch+json":
                    if not rt.smp:
                        raise ApiError(415, "UnsupportedMediaType", "the body of the request "
                                       "was in an unknown format - accepted media types "
                                       "include: application/json-patch+json, "
                                       "application/merge-patch+json, "
                                       "application/apply-patch+yaml", {})
                    patched = patchlib.strategic_merge(cur, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType", "the body of the request was in "
                                   "an unknown format - accepted media types include: "
                                   "application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml" +
                                   (", application/strategic-merge-patch+json" if rt.smp else ""),
                                   {})
            except patchlib.PatchError as e:
                raise ApiError(422, "Invalid", str(e), {})
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not an object")
            self.check_body_type(rt, patched)
            patched.setdefault("metadata", {})
            if "resourceVersion" not in patched["metadata"]:
                patched["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.update(req, rt, patched, gv, patched_from=old)

    def _delete_options(self, req):
        opts = {}
        if req.body:
            try:
                opts = json.loads(req.body.decode())
            except ValueError:
                raise bad_request("the body of the request was not valid DeleteOptions")
        if not isinstance(opts, dict):
            opts = {}
        if req.query.get("dryRun") == "All":
            opts["dryRun"] = ["All"]
        return opts

    def serve_delete(self, req, rt):
        opts = self._delete_options(req)
        obj = self.delete_one(req, rt, req.namespace, req.name, opts)
        return self.respond_object(req, rt, obj, 200)

    def delete_one(self, req, rt, ns, name, opts):
        if rt.plural == "namespaces" and name in ("default", "kube-system", "kube-public"):
            raise ApiError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may '
                           'not be deleted' % name, {"name": name, "kind": "namespaces"})
        with self.store.lock:
            old = self.store.get(rt.storage, ns, name)
            if old is None:
                raise not_found(rt, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict(rt, name, "Precondition failed: UID in precondition: %s, UID in "
                               "object meta: %s" % (pre["uid"], old["metadata"]["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != \
                    old["metadata"]["resourceVersion"]:
                raise conflict(rt, name, "the ResourceVersion in the precondition (%s) does not "
                               "match the ResourceVersion in record (%s). The object might have "
                               "been modified" % (pre["resourceVersion"],
                                                  old["metadata"]["resourceVersion"]))
            if "All" in (opts.get("dryRun") or []):
                return copy.deepcopy(old)
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(old)
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = res.now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                self.store.write(rt.storage, new, "MODIFIED", old)
                return new
            gone = copy.deepcopy(old)
            self.store.write(rt.storage, gone, "DELETED", old)
            self._after_delete(rt, gone)
            return gone

    def _after_delete(self, rt, obj):
        if rt.plural == "namespaces":
            ns = obj["metadata"]["name"]
            for skey, bucket in list(self.store.objects.items()):
                for (ons, oname), o in list(bucket.items()):
                    if ons == ns:
                        self.store.write(skey, copy.deepcopy(o), "DELETED", o)
        if rt.plural == "customresourcedefinitions":
            spec = obj.get("spec") or {}
            skey = (spec.get("group"), (spec.get("names") or {}).get("plural"))
            for o in list(self.store.items(skey)):
                self.store.write(skey, copy.deepcopy(o), "DELETED", o)
            self.rebuild_registry()

    def serve_deletecollection(self, req, rt):
        opts = self._delete_options(req)
        match = self.selectors(req, rt)
        deleted = []
        with self.store.lock:
            for o in list(self.store.items(rt.storage, req.namespace or None)):
                if match(o):
                    md = o["metadata"]
                    deleted.append(self.delete_one(req, rt, md.get("namespace", ""), md["name"],
                                                   opts))
            rv = self.store.rv
        views = [self.view(rt, o) for o in deleted]
        return self.send_json(req, 200, {"apiVersion": rt.api_version, "kind": rt.list_kind,
                                         "metadata": {"resourceVersion": str(rv)},
                                         "items": views})

    # -- control endpoint ---------------------------------------------------------------------

    def control(self, req):
        auth = req.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or not secrets.compare_digest(
                auth[7:].strip(), self.admin_token or "\0"):
            raise ApiError(403, "Forbidden", "the emulator control endpoint needs the admin "
                           "token", {})
        req.user = "emulator-admin"
        parts = [p for p in req.path.split("/") if p][1:]
        what = parts[0] if parts else ""
        body = {}
        if req.body:
            try:
                body = json.loads(req.body.decode())
            except ValueError:
                raise bad_request("control requests take a JSON object")
        if what == "faults" and req.method == "GET":
            return self.send_json(req, 200, {"faults": self.faults.list()})
        if what == "faults" and req.method == "DELETE":
            self.faults.clear()
            return self.send_json(req, 200, {"cleared": True})
        if what == "faults" and req.method == "POST":
            return self.send_json(req, 200, self.apply_fault(body))
        if what == "requests" and req.method == "GET":
            since = int(req.query.get("since") or 0)
            with self.reqlog_lock:
                out = [e for e in self.reqlog if e["seq"] > since]
            return self.send_json(req, 200, {"requests": out})
        if what == "requests" and req.method == "DELETE":
            with self.reqlog_lock:
                self.reqlog = []
            return self.send_json(req, 200, {"cleared": True})
        if what == "state" and req.method == "GET":
            with self.store.lock:
                st = {"resourceVersion": self.store.rv,
                      "compactedResourceVersion": self.store.compaction_point(),
                      "watches": len(self.watchers), "faults": len(self.faults.list())}
            return self.send_json(req, 200, st)
        raise ApiError(404, "NotFound", "unknown control request %s %s" % (req.method,
                                                                            req.path), {})

    def _watchers_matching(self, body):
        with self.conn_lock:
            ws = list(self.watchers)
        return [w for w in ws if _rule_matches(body, w.req)]

    def apply_fault(self, body):
        action = body.get("action")
        sel = {k: body[k] for k in ("verb", "path", "resource", "group", "namespace", "user")
               if k in body}
        if action == "error":
            code = int(body.get("code", 500))
            rule = dict(sel, action="error", code=code, count=body.get("count", 1))
            for k in ("retryAfter", "message"):
                if k in body:
                    rule[k] = body[k]
            return {"id": self.faults.add(rule)}
        if action == "stall":
            return {"id": self.faults.add(dict(sel, action="stall", ms=int(body.get("ms", 1000)),
                                               count=body.get("count", 1)))}
        if action == "deny":
            return {"id": self.faults.add(dict(sel, action="deny", count=body.get("count")))}
        if action == "cutWatch":
            sel.setdefault("verb", "watch")
            return {"id": self.faults.add(dict(sel, action="cutWatch",
                                               count=body.get("count", 1)))}
        if action == "dropWatches":
            ws = self._watchers_matching(dict(sel, verb="watch"))
            mode = body.get("mode", "close")
            for w in ws:
                w.drop = mode
            with self.store.cond:
                self.store.cond.notify_all()
            return {"dropped": len(ws)}
        if action == "bookmark":
            ws = self._watchers_matching(dict(sel, verb="watch"))
            for w in ws:
                w.bookmark_now = True
            with self.store.cond:
                self.store.cond.notify_all()
            return {"watches": len(ws)}
        if action == "compact":
            rv = self.store.compact(body.get("resourceVersion"))
            self.gone_reason = body.get("reason", "Expired")
            return {"compactedResourceVersion": rv, "resourceVersion": self.store.rv}
        if action == "down":
            secs = float(body.get("seconds", 5))
            self.go_down(secs)
            return {"down": secs}
        if action == "setTokens":
            toks = body.get("tokens") or []
            for t in toks:
                t.setdefault("groups", sa_groups(t["user"]))
            write_atomic(self.tokens_path, Tokens.render(toks), 0o600)
            self._sync_sa_token()
            return {"tokens": len(toks)}
        if action == "rotateToken":
            user = body.get("user", self.user)
            keep_old = bool(body.get("keepOld", False))
            new = secrets.token_urlsafe(32)
            rows = []
            with open(self.tokens_path) as f:
                for row in csv.reader(f):
                    if len(row) >= 2 and (keep_old or row[1].strip() != user):
                        rows.append({"token": row[0], "user": row[1],
                                     "uid": row[2] if len(row) > 2 else row[1],
                                     "groups": [g for g in (row[3].split(",") if len(row) > 3
                                                            else []) if g]})
            rows.insert(0, {"token": new, "user": user, "uid": str(uuid.uuid4()),
                            "groups": sa_groups(user)})
            write_atomic(self.tokens_path, Tokens.render(rows), 0o600)
            self._sync_sa_token()
            return {"token": new}
        if action == "clear":
            self.faults.clear(body.get("kind"))
            return {"cleared": True}
        raise bad_request("unknown fault action %r" % (action,))

    def _sync_sa_token(self):
        tok = self._first_token_for(self.user)
        write_atomic(os.path.join(self.dir, "serviceaccount", "token"), tok or "", 0o600)


def _pb_field(num, payload):
    """A protobuf length-delimited field (wire type 2) with a one-byte length."""
    assert len(payload) < 128
    return bytes([(num << 3) | 2, len(payload)]) + payload


OPENAPI_V2_PB_TYPE = "application/octet-stream"
_OPENAPI_V2_PB = _pb_field(1, b"2.0") + _pb_field(2, _pb_field(1, b"Kubernetes") +
                                                 _pb_field(2, b"v1.32.0"))


def _same_content(a, b):
    return a == b


def _version_priority(v):
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, v)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0))


def main(argv=None):
    import argparse
    import signal

    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", "..", ".."))
    p = argparse.ArgumentParser(prog="kube-emulator", description=__doc__)
    p.add_argument("--dir", required=True, help="work directory (certificates, kubeconfig, "
                   "tokens, ready file)")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    p.add_argument("--crd", action="append", default=None,
                   help="CRD file or directory (default: manifests/crd/)")
    p.add_argument("--fixture", action="append", default=[], help="YAML objects to seed")
    p.add_argument("--tokens-file", help="token,user,uid,groups CSV (default: DIR/tokens.csv)")
    p.add_argument("--namespace", default="kagent", help="kubeconfig and service-account "
                   "namespace")
    p.add_argument("--user", default=CONTROLLER_USER, help="user of the generated token")
    p.add_argument("--bookmark-interval", type=float, default=5.0)
    p.add_argument("--watch-timeout", type=float, default=1800.0)
    p.add_argument("--ready-file", help="default: DIR/ready")
    p.add_argument("--request-log", help="append one JSON line per request to this file")
    p.add_argument("--key-type", choices=["ec", "rsa"], default="ec",
                   help="keys of the CA and the certificates: ECDSA P-256 or RSA 2048")
    p.add_argument("--tls-max-version", choices=["1.2", "1.3"], default="1.3",
                   help="the newest TLS version served")
    a = p.parse_args(argv)
    crds = a.crd if a.crd is not None else [os.path.join(repo, "manifests", "crd")]
    log = open(a.request_log, "a") if a.request_log else None
    emu = Emulator(a.dir, a.address, a.port, crds, a.fixture, a.tokens_file, a.namespace,
                   a.bookmark_interval, a.watch_timeout, a.user, log, a.key_type,
                   a.tls_max_version)

    def stop(*_):
        emu.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    emu.start(a.ready_file)
    sys.stdout.write("kube-emulator listening on %s\n" % emu.server_url())
    sys.stdout.flush()
    emu.serve()
    return 0
