# SPDX-License-Identifier: Apache-2.0
"""Helpers of the Prometheus end-to-end tests: checks, free ports, waiting on conditions with a
deadline, the sidecar (`kagent-retention run`), a real Prometheus server on loopback, the test
copy of the alert rules, and size-limited tmpfs mounts. Python standard library only."""
import ctypes
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("KR_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RULES = os.path.join(SOURCE, "manifests", "prometheus", "rules.yaml")
SKIP = 77


def env_path(name):
    v = os.environ.get(name)
    if not v or not os.access(v, os.X_OK):
        print("FAIL - %s must name the built executable (ctest sets it)" % name)
        sys.exit(1)
    return v


class Checks:
    """ok/FAIL lines like the shell tests, and the summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=None):
        if cond:
            self.passed += 1
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (name, "" if detail is None else ": %s" % (detail,)))
        sys.stdout.flush()
        return bool(cond)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def log(msg):
    print("# " + msg)
    sys.stdout.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, interval=0.1):
    """Call cond() until it returns a true value or the deadline passes; that value or None."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def http_get(url, timeout=2.0):
    """(status, body) or (None, error text) on a transport failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)")


def parse_metrics(text):
    """{'name{labels}': value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def histogram_quantile(q, buckets):
    """Prometheus' histogram_quantile over [(le, cumulative count)], linear within a bucket."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_le, prev_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-12)
        prev_le, prev_n = le, n
    return buckets[-2][0]


def metric_buckets(samples, name):
    out = []
    for k, v in samples.items():
        m = re.match(re.escape(name) + r'_bucket\{le="([^"]+)"\}$', k)
        if m:
            out.append((float(m.group(1)), v))
    return out


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (ctest timeout)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(args, stdout=None, stderr=None):
    return subprocess.Popen(args, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)


def stop(proc, sig=signal.SIGTERM, timeout=10):
    """Signal a child we started and reap it; its exit status (None if it was not running)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Sidecar:
    """`kagent-retention run` with metrics and probes on their own loopback ports."""

    def __init__(self, binary, db, policy, log_path, mport=None, hport=None, extra=()):
        self.mport = mport or free_port()
        self.hport = hport or free_port()
        self.args = [binary, "run", "--sqlite-database-path", db, "--policy", policy,
                     "--metrics-bind-address", "127.0.0.1:%d" % self.mport,
                     "--health-probe-bind-address", "127.0.0.1:%d" % self.hport,
                     "--log-format", "json"] + list(extra)
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=20):
        self.log = open(self.log_path, "a")
        self.proc = spawn(self.args, stdout=self.log, stderr=self.log)
        return wait_for(lambda: self.proc.poll() is None and
                        http_get("http://127.0.0.1:%d/readyz" % self.hport)[0] == 200, timeout)

    def metrics(self):
        status, body = http_get("http://127.0.0.1:%d/metrics" % self.mport)
        return parse_metrics(body) if status == 200 else {}

    def value(self, series, default=None):
        return self.metrics().get(series, default)

    def stop(self, sig=signal.SIGTERM):
        rc = stop(self.proc, sig)
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def log_records(self):
        out = []
        with open(self.log_path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out


# ---- the alert rules -------------------------------------------------------------------------

_FOR = re.compile(r"^(\s+)for: (\d+)([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def short_for(seconds, scale=300, floor=2):
    """The test copy's `for:`: the real one divided by `scale`, at least `floor` seconds."""
    return max(floor, int(math.ceil(seconds / float(scale))))


def write_test_rules(src, dst, scale=300, floor=2):
    """Copy the rules file with only its `for:` lines shortened; {alert: (real s, test s)}.
    Every other line, the expressions included, is copied byte for byte."""
    durations = {}
    alert = None
    out = []
    with open(src) as f:
        for line in f:
            m = re.match(r"^\s+- alert: (\S+)\s*$", line)
            if m:
                alert = m.group(1)
            m = _FOR.match(line)
            if m:
                real = int(m.group(2)) * _UNIT[m.group(3)]
                test = short_for(real, scale, floor)
                durations[alert] = (real, test)
                line = "%sfor: %ds\n" % (m.group(1), test)
            out.append(line)
    with open(dst, "w") as f:
        f.write("# TEST COPY of %s: only the for: durations differ.\n"
                % os.path.relpath(src, SOURCE))
        f.writelines(out)
    return durations


def rules_differ_only_in_for(src, dst):
    with open(src) as f:
        a = f.read().splitlines()
    with open(dst) as f:
        b = [l for l in f.read().splitlines() if not l.startswith("# TEST COPY")]
    if len(a) != len(b):
        return False
    return all(x == y or (_FOR.match(x) and _FOR.match(y)) for x, y in zip(a, b))


# ---- Prometheus ------------------------------------------------------------------------------

class Prometheus:
    """A real Prometheus server on 127.0.0.1 with its storage in a temporary directory."""

    def __init__(self, workdir, targets, rule_files, job="kagent-retention"):
        self.dir = workdir
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(workdir, "prometheus.yml")
        targets_yaml = ", ".join("'%s'" % t for t in targets)
        rules_yaml = ", ".join("'%s'" % r for r in rule_files)
        with open(self.config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n"
                    "  - job_name: %s\n"
                    "    static_configs:\n"
                    "      - targets: [%s]\n" % (rules_yaml, job, targets_yaml))
        self.proc = None

    def start(self, binary="/usr/bin/prometheus", timeout=30):
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = spawn([binary, "--config.file=" + self.config,
                           "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                           "--web.listen-address=127.0.0.1:%d" % self.port,
                           "--log.level=warn"], stdout=self.log, stderr=self.log)
        return wait_for(lambda: self.proc.poll() is None and
                        http_get(self.url + "/-/ready")[0] == 200, timeout, 0.2)

    def stop(self):
        rc = stop(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def api(self, path, **params):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, body = http_get(url, timeout=5)
        if status != 200:
            return None
        r = json.loads(body)
        return r["data"] if r.get("status") == "success" else None

    def alerts(self):
        """{alertname: alert} of the active (pending or firing) alerts, or None."""
        d = self.api("/api/v1/alerts")
        if d is None:
            return None
        return {a["labels"]["alertname"]: a for a in d["alerts"]}

    def query(self, expr):
        d = self.api("/api/v1/query", query=expr)
        return None if d is None else d["result"]

    def rules(self):
        d = self.api("/api/v1/rules")
        return [] if d is None else [r for g in d["groups"] for r in g["rules"]]


# ---- tmpfs -----------------------------------------------------------------------------------

def mount_tmpfs(size):
    """A fresh tmpfs of `size` (e.g. '64m'); exits 77 (skipped) when not root."""
    if os.geteuid() != 0:
        print("skipped: mounting a tmpfs needs root")
        sys.exit(SKIP)
    mnt = tempfile.mkdtemp(prefix="kr-tmpfs-")
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt]) != 0:
        os.rmdir(mnt)
        print("FAIL - mount tmpfs")
        sys.exit(1)
    return mnt


def umount(mnt):
    if mnt:
        subprocess.call(["umount", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def scratch_dir(prefix):
    """A memory-backed directory like kagent's emptyDir when the machine has one."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
