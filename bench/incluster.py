#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The sidecar's footprint as it runs in a cluster: against the Kubernetes API emulator
(tests/e2e/kube_emulator) over HTTPS, with the default sample RetentionPolicy, leader election
(a Lease renewed every 2 s), the policy watch, status updates and Events, the metrics endpoint
scraped every 15 s and the volume polled. After its first prune it idles for IDLE_S seconds;
prints one JSON record (kind "sidecar_cluster"): RSS (anonymous and file-backed), on-CPU time per
second of its threads (/proc schedstat) and the API requests it made meanwhile.

    incluster.py [--root DIR] BINARY DB IDLE_S WORKDIR

--root DIR runs the sidecar as the image does: chrooted into DIR (an image's file system, as root
may), as UID 65532; BINARY and DB are then paths inside DIR, and the kubeconfig is copied in.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))

POD = "kagent-controller-0"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_sample(pid):
    """rss, anon, file (KiB) and on-CPU ns of every thread."""
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                st[k] = int(v.split()[0])
    ns = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                ns += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended between listdir and open
    st["cpu_ns"] = ns
    return st


def log_has(path, msg):
    with open(path) as f:
        for line in f:
            try:
                if json.loads(line).get("msg") == msg:
                    return True
            except ValueError:
                pass
    return False


def main():
    args = sys.argv[1:]
    root = None
    if args[:1] == ["--root"]:
        root, args = args[1], args[2:]
    binary, db, idle_s, work = args[0], args[1], float(args[2]), args[3]
    try:
        import yaml
        from kube_emulator.client import EmulatorProcess, wait_until
    except ImportError as e:
        print(json.dumps({"kind": "sidecar_cluster", "skipped": "the API emulator needs %s" % e}))
        return 0
    os.makedirs(work, exist_ok=True)
    emu = EmulatorProcess(workdir=work).start()
    side = None
    try:
        with open(os.path.join(SRC, "manifests", "samples", "retentionpolicy-default.yaml")) as f:
            pol = yaml.safe_load(f)
        code, body = emu.request("POST", "/apis/kagent.dev/v1alpha1/namespaces/kagent/"
                                 "retentionpolicies", pol)
        if code != 201:
            raise RuntimeError("creating the policy: %s %s" % (code, body))
        mport = free_port()
        log_path = os.path.join(work, "sidecar.log")
        env = dict(os.environ, POD_NAME=POD, POD_NAMESPACE="kagent")
        env.pop("KUBECONFIG", None)
        cmd, kubeconfig = [binary], emu.kubeconfig
        if root is not None:
            # The emulator's kubeconfig embeds its CA and token: a copy works inside the root.
            kubeconfig = "/tmp/kubeconfig-%d" % os.getpid()
            with open(emu.kubeconfig) as f, open(root + kubeconfig, "w") as g:
                g.write(f.read())
            os.chown(root + kubeconfig, 65532, 65532)
            cmd = ["chroot", "--userspec=65532:65532", root, binary]
        with open(log_path, "w") as log:
            side = subprocess.Popen(
                cmd + ["run", "--kubeconfig", kubeconfig, "--leader-elect",
                 "--sqlite-database-path", db, "--metrics-bind-address", "127.0.0.1:%d" % mport,
                 "--health-probe-bind-address", "127.0.0.1:%d" % free_port()],
                env=env, stdout=log, stderr=log)

        def alive():
            if side.poll() is not None:
                with open(log_path) as f:
                    raise RuntimeError("sidecar exited %s: %s" % (side.returncode,
                                                                 f.read()[-600:]))
            return True

        def status_written():
            alive()
            code, p = emu.request("GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/"
                                  "retentionpolicies/default")
            return code == 200 and (p.get("status") or {}).get("lastRun")

        wait_until(lambda: alive() and log_has(log_path, "prune run finished"), 600,
                   interval=0.1, what="the first prune")
        last = wait_until(status_written, 60, interval=0.1, what="the policy's status")
        # Let the run's aftermath settle (reclaim, the reserve file), then measure.
        time.sleep(2)
        seq0 = max([r["seq"] for r in emu.requests()] or [0])
        s0, t0 = proc_sample(side.pid), time.monotonic()
        scrapes = 0
        end = t0 + idle_s
        while True:
            now = time.monotonic()
            if now >= end:
                break
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10) as r:
                r.read()
            scrapes += 1
            time.sleep(min(15.0, max(0.0, end - time.monotonic())))
        alive()
        s1, t1 = proc_sample(side.pid), time.monotonic()
        reqs = [r for r in emu.requests(since=seq0) if r["seq"] > seq0]
        verbs = {}
        for r in reqs:
            k = "%s %s" % (r.get("verb"), r.get("resource"))
            verbs[k] = verbs.get(k, 0) + 1
        leader = log_has(log_path, "leadership acquired")
        side.send_signal(signal.SIGTERM)
        rc = side.wait(30)
        side = None
        dt = t1 - t0
        print(json.dumps({
            "kind": "sidecar_cluster", "idle_s": dt, "rss_kb": s1["VmRSS"],
            "anon_kb": s1["RssAnon"], "file_kb": s1["RssFile"], "shmem_kb": s1.get("RssShmem"),
            "threads": s1.get("Threads"), "cpu_ms_per_s": (s1["cpu_ns"] - s0["cpu_ns"]) / 1e6 / dt,
            "requests": len(reqs), "requests_by_verb": verbs, "scrapes": scrapes,
            "leader": leader, "last_run": last, "exit_code": rc}))
        return 0 if rc == 0 and leader else 1
    finally:
        if side is not None:
            side.kill()
            side.wait()
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
