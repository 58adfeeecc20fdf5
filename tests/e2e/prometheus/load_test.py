#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scrape load during a prune: 200 scrapes per second (16 threads, a connection per scrape,
tests/tools/scrape-load) against the running sidecar's /metrics while a scheduled prune runs,
compared with the same prune on an identical copy of the database without the load.

Asserted: every scrape is answered with 200; the whole prune ran inside the load window; both
prunes succeed and delete the same rows (within 0.5%: the clock moves between the two runs);
under load the batch (write transaction) p99 stays within the policy's maxLockDuration.
Reported: the batch-duration p50/p99/max (exact, from the sidecar's per-batch debug log, and as
Prometheus would compute it from kagent_retention_batch_duration_seconds), the run durations and
the scrape latencies, in load_result.json and load_result.md (working directory or --out DIR).

Modes: quick (5 s of load, 150 generated sessions) when KR_QUICK=1, or CI=true and KR_QUICK is
not 0 (ctest sets KR_QUICK=1); full (30 s, 2000 sessions) otherwise, the figure for bench/.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

RATE = 200
WORKERS = 16
MAX_LOCK_MS = 50
POLICY = """apiVersion: kagent.dev/v1alpha1
kind: RetentionPolicy
metadata:
  name: e2e-load
spec:
  suspend: %s
  schedule: {interval: 1h}
  activeWindow: 5m
  sessions: {expireAfter: 30d}
  events: {maxAge: 7d, keepLastPerSession: 5}
  batch: {maxRows: 10, maxLockDuration: %dms, pause: 5ms}
  reclaim: {mode: None}
"""


def quick_mode():
    q = os.environ.get("KR_QUICK")
    if q is not None and q != "":
        return q not in ("0", "false", "no")
    return os.environ.get("CI", "").lower() == "true"


def wall(ts):
    """Epoch seconds of a log record's "ts" (RFC 3339, UTC, milliseconds)."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def pct(sorted_values, p):
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-p * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def parse_scrape_load(text):
    out = {}
    m = re.search(r"answered (\d+), failed (\d+), ([\d.]+) KiB", text)
    if m:
        out.update(answered=int(m.group(1)), failed=int(m.group(2)),
                   kib_per_answer=float(m.group(3)))
    for key, label in (("latency", "latency from due time"), ("service", "service time")):
        m = re.search(re.escape(label) + r"\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms\s+max ([\d.]+) ms",
                      text)
        if m:
            out[key + "_ms"] = {"p50": float(m.group(1)), "p99": float(m.group(2)),
                                "max": float(m.group(3))}
    return out


def prune_once(c, binary, scrape_load, db, work, name, load_s):
    """One sidecar on `db`, suspended until the scrape load (if any) runs, then unsuspended:
    the policy change starts a scheduled run at once. Returns the measurements."""
    policy = os.path.join(work, name + "-policy.yaml")
    lib.write_atomic(policy, POLICY % ("true", MAX_LOCK_MS))
    sidecar = lib.Sidecar(binary, db, policy, os.path.join(work, name + ".log"),
                          extra=["--volume-poll-ms", "100", "--log-level", "debug"])
    load = None
    res = {"name": name}
    try:
        if not c.check("%s: sidecar ready" % name, sidecar.start()):
            return None
        served = 'kagent_retention_http_requests_total{handler="metrics",code="200"}'
        if load_s:
            out = open(os.path.join(work, name + "-scrape-load.txt"), "w")
            load = lib.spawn([scrape_load, "--target", "127.0.0.1:%d" % sidecar.mport,
                              "--rate", str(RATE), "--duration", str(load_s),
                              "--workers", str(WORKERS)], stdout=out, stderr=out)
            res["load_start"] = time.time() + 0.01  # scrape-load starts 10 ms after launch
            # The load is on once the sidecar has answered 100 scrapes (0.5 s at 200/s).
            c.check("%s: the scrape load is running" % name,
                    lib.wait_for(lambda: sidecar.value(served, 0) >= 100, 10, 0.05))
        lib.write_atomic(policy, POLICY % ("false", MAX_LOCK_MS))
        res["unsuspended"] = time.time()

        def finished():
            for r in sidecar.log_records():
                if r.get("msg") == "prune run finished":
                    return r
            return None
        run = lib.wait_for(finished, 600, 0.1)
        if not c.check("%s: the prune run finished" % name, run):
            return None
        if load is not None:
            rc = load.wait(load_s + 60)
            res["load_end"] = time.time()
            out.close()
            with open(os.path.join(work, name + "-scrape-load.txt")) as f:
                text = f.read()
            print(text, end="")
            res["scrape"] = parse_scrape_load(text)
            res["scrape"]["total"] = RATE * load_s
            c.check("%s: all %d scrapes answered with 200" % (name, RATE * load_s),
                    rc == 0 and res["scrape"].get("answered") == RATE * load_s,
                    "exit %s, %s" % (rc, res["scrape"]))
        m = sidecar.metrics()
        res["histogram_p99_ms"] = 1000 * lib.histogram_quantile(
            0.99, lib.metric_buckets(m, "kagent_retention_batch_duration_seconds"))
        res["histogram_count"] = m.get("kagent_retention_batch_duration_seconds_count")
        res["metrics_scrapes_answered"] = m.get(served)
    finally:
        if load is not None and load.poll() is None:
            lib.stop(load)
        rc = sidecar.stop()
    c.check("%s: sidecar exits 0 on SIGTERM" % name, rc == 0, rc)
    recs = sidecar.log_records()
    batches = [r for r in recs if r.get("msg") == "batch"]
    txn = sorted(r["txn_us"] / 1000.0 for r in batches)
    res.update(result=run["result"], rows=run["rows"], bytes=run["bytes"],
               batches=run["batches"], duration_ms=run["duration_ms"],
               max_batch_ms=run["max_batch_ms"],
               batch_ms={"p50": pct(txn, 50), "p99": pct(txn, 99), "max": txn[-1] if txn else None,
                         "count": len(txn)},
               first_batch=wall(batches[0]["ts"]) if batches else None,
               run_end=wall(run["ts"]))
    return res


def markdown(r):
    base, load = r["without_load"], r["with_load"]
    s = load["scrape"]
    lines = [
        "# Scrape load during a prune (%s mode)" % r["mode"],
        "",
        "%d scrapes/s from %d threads (a connection per scrape) for %d s against the sidecar's "
        "`/metrics`, during a scheduled prune of a generated database (%d sessions, %.1f MB); "
        "the same prune on an identical copy without the load. %s, %d cores."
        % (RATE, WORKERS, r["load_seconds"], r["sessions"], r["db_bytes"] / 1e6, r["build"],
           r["cores"]),
        "",
        "| | without load | with load |",
        "|---|---|---|",
        "| rows deleted | %d | %d |" % (base["rows"], load["rows"]),
        "| batches (write transactions) | %d | %d |" % (base["batches"], load["batches"]),
        "| run duration | %.2f s | %.2f s |" % (base["duration_ms"] / 1000.0,
                                               load["duration_ms"] / 1000.0),
        "| batch p50 | %.2f ms | %.2f ms |" % (base["batch_ms"]["p50"], load["batch_ms"]["p50"]),
        "| batch p99 | %.2f ms | %.2f ms |" % (base["batch_ms"]["p99"], load["batch_ms"]["p99"]),
        "| batch max | %.2f ms | %.2f ms |" % (base["batch_ms"]["max"], load["batch_ms"]["max"]),
        "| batch p99 from the histogram (`histogram_quantile`) | %.1f ms | %.1f ms |"
        % (base["histogram_p99_ms"], load["histogram_p99_ms"]),
        "",
        "Scrapes: %d of %d answered with 200, %.1f KiB each; latency from the scheduled time "
        "p50 %.2f ms, p99 %.2f ms, max %.2f ms (service time p50 %.2f ms, p99 %.2f ms, "
        "max %.2f ms)."
        % (s["answered"], s["total"], s["kib_per_answer"], s["latency_ms"]["p50"],
           s["latency_ms"]["p99"], s["latency_ms"]["max"], s["service_ms"]["p50"],
           s["service_ms"]["p99"], s["service_ms"]["max"]),
        "",
        "The prune ran from %.1f s to %.1f s of the %d s load window."
        % (load["first_batch"] - load["load_start"], load["run_end"] - load["load_start"],
           r["load_seconds"]),
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=".", help="directory for load_result.json and .md")
    args = ap.parse_args()
    c = lib.Checks()
    binary = lib.env_path("KR_BINARY")
    scrape_load = lib.env_path("KR_SCRAPE_LOAD")
    quick = quick_mode()
    load_s, sessions = (5, 150) if quick else (30, 2000)
    work = lib.scratch_dir("kr-load-")
    t0 = time.monotonic()
    try:
        a = os.path.join(work, "a.db")
        b = os.path.join(work, "b.db")
        # Generated as of an hour ago: no session is near the 5m activeWindow, whose end would
        # otherwise free a session's old events between the two runs.
        now_ms = int(time.time() * 1000) - 3600 * 1000
        rc = subprocess.call([binary, "datagen", "--sqlite-database-path", a, "--sessions",
                              str(sessions), "--days", "90", "--seed", "7", "--now", str(now_ms)])
        if not c.check("datagen", rc == 0):
            return c.finish()
        shutil.copyfile(a, b)
        db_bytes = os.path.getsize(a)
        base = prune_once(c, binary, scrape_load, a, work, "without-load", 0)
        load = prune_once(c, binary, scrape_load, b, work, "with-load", load_s)
        if base is None or load is None:
            return c.finish()
        c.check("both prunes succeeded", base["result"] == load["result"] == "Succeeded",
                (base["result"], load["result"]))
        c.check("both deleted the same rows (%d, %d; within 0.5%%)" % (base["rows"], load["rows"]),
                base["rows"] > 0 and abs(base["rows"] - load["rows"]) <= 0.005 * base["rows"])
        c.check("the whole prune ran under the load (%.2f s to %.2f s of %d s)"
                % (load["first_batch"] - load["load_start"], load["run_end"] - load["load_start"],
                   load_s),
                load["first_batch"] >= load["load_start"] and load["run_end"] <= load["load_end"])
        c.check("the sidecar counted every scrape (%s)" % load["metrics_scrapes_answered"],
                (load["metrics_scrapes_answered"] or 0) >= RATE * load_s)
        c.check("batch p99 under load %.2f ms <= maxLockDuration %d ms (without load %.2f ms)"
                % (load["batch_ms"]["p99"], MAX_LOCK_MS, base["batch_ms"]["p99"]),
                load["batch_ms"]["p99"] <= MAX_LOCK_MS)
        result = {
            "mode": "quick" if quick else "full", "load_seconds": load_s, "rate": RATE,
            "workers": WORKERS, "sessions": sessions, "db_bytes": db_bytes,
            "cores": os.cpu_count(),
            "build": "ASan" if "asan" in binary.lower() else "RelWithDebInfo",
            "without_load": base, "with_load": load,
            "batch_p99_ratio": round(load["batch_ms"]["p99"] / base["batch_ms"]["p99"], 2)
            if base["batch_ms"]["p99"] else None,
            "runtime_seconds": round(time.monotonic() - t0, 1),
        }
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "load_result.json"), "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        md = markdown(result)
        with open(os.path.join(args.out, "load_result.md"), "w") as f:
            f.write(md)
        print(md)
        return c.finish()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
