#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus server on loopback scrapes the running sidecar every second and evaluates
the shipped alert rules (a test copy of manifests/prometheus/rules.yaml whose only change is
shorter `for:` durations). On a real 64 MiB tmpfs (root; exit 77 = skipped otherwise), a
kagent-like writer fills the volume with data of an active session, which the emergency ladder
may not delete: through Prometheus' HTTP API the volume alerts and the unrelieved-pressure alert
fire, then resolve once a larger spec.volume.sizeLimit relieves the volume. An invalid policy
fires KagentRetentionPolicyInvalid; killing the sidecar fires KagentRetentionDown and
KagentRetentionAbsent, and restarting it resolves them. The prune alerts stay silent throughout.
Every wait polls a condition against a deadline. Timings go to prometheus_alerts_result.json."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import types

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

HIGH = "KagentRetentionVolumeUsageHigh"
CRITICAL = "KagentRetentionVolumeUsageCritical"
FILLING = "KagentRetentionVolumeFillingUp"
UNRELIEVED = "KagentRetentionVolumePressureUnrelieved"
FAILING = "KagentRetentionPruneFailing"
STALE = "KagentRetentionPruneStale"
INVALID = "KagentRetentionPolicyInvalid"
DOWN = "KagentRetentionDown"
ABSENT = "KagentRetentionAbsent"
VOLUME_ALERTS = [HIGH, CRITICAL, FILLING, UNRELIEVED]
SEVERITY = {HIGH: "warning", CRITICAL: "critical", FILLING: "warning", UNRELIEVED: "warning",
            INVALID: "warning", DOWN: "warning", ABSENT: "warning"}

LIMIT = 32 << 20         # spec.volume.sizeLimit while filling: half of the 64 MiB tmpfs
RELIEVED_LIMIT = 128 << 20
STOP_RATIO = 0.97        # the writer stops here: above every volume alert's threshold
SESSION = "e2e-active-session"

POLICY = """apiVersion: kagent.dev/v1alpha1
kind: RetentionPolicy
metadata:
  name: e2e-prometheus
spec:
  schedule: {interval: 1h}
  activeWindow: 30m
  volume: {sizeLimit: %(limit)s, highWatermarkPercent: %(high)d, lowWatermarkPercent: 65}
  batch: {maxRows: 500, pause: 5ms}
"""


def policy(limit_mib, high=80):
    return POLICY % {"limit": "%dMi" % limit_mib, "high": high}


class Watch:
    """Polls /api/v1/alerts; remembers when each alert was seen in each state, and records any
    poll that shows an alert of the current silent set in any state."""

    def __init__(self, prom, t0):
        self.prom = prom
        self.t0 = t0
        self.silent = set()
        self.seen = []        # (seconds since t0, alert, state) of every poll
        self.violations = {}  # alert -> phase in which it was seen although silent
        self.phase = "start"
        self.last = {}

    def first(self, alert, state, since=0.0):
        """Seconds since t0 of the first poll at or after `since` showing alert in state."""
        return next((t for t, a, s in self.seen if a == alert and s == state and t >= since), None)

    def poll(self):
        alerts = self.prom.alerts()
        if alerts is None:
            return self.last
        now = time.monotonic() - self.t0
        for name, a in alerts.items():
            self.seen.append((now, name, a["state"]))
            if name in self.silent and name not in self.violations:
                self.violations[name] = "%s (%s at %.1f s)" % (self.phase, a["state"], now)
        self.last = alerts
        return alerts

    def firing(self, names):
        a = self.poll()
        return all(n in a and a[n]["state"] == "firing" for n in names) and a

    def inactive(self, names):
        a = self.poll()
        return all(n not in a for n in names)


def main():
    c = lib.Checks()
    binary = lib.env_path("KR_BINARY")
    writer_bin = lib.env_path("KR_WRITER")
    prom_bin = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.access(prom_bin, os.X_OK):
        print("FAIL - prometheus is required (Debian package prometheus: install-deps test)")
        return 1
    mnt = lib.mount_tmpfs("64m")
    work = tempfile.mkdtemp(prefix="kr-prom-")
    try:
        return scenario(c, binary, writer_bin, prom_bin, mnt, work)
    finally:
        lib.umount(mnt)
        shutil.rmtree(work, ignore_errors=True)


def scenario(c, binary, writer_bin, prom_bin, mnt, work):
    t0 = time.monotonic()
    result = {}
    db = os.path.join(mnt, "kagent.db")
    policy_file = os.path.join(work, "policy.yaml")
    procs = []
    try:
        return _scenario(c, binary, writer_bin, prom_bin, mnt, work, t0, result, db,
                         policy_file, procs)
    finally:
        for p in reversed(procs):
            p.stop()
        result["runtime_seconds"] = round(time.monotonic() - t0, 1)
        with open("prometheus_alerts_result.json", "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        log("result: %s" % json.dumps(result, sort_keys=True))


def log(msg):
    lib.log(msg)


def _scenario(c, binary, writer_bin, prom_bin, mnt, work, t0, result, db, policy_file, procs):
    def since(t):
        return round(t - t0, 2)

    # Old data the ladder may delete (about 6 MB), then the sidecar with a 32Mi limit.
    rc = subprocess.call([binary, "datagen", "--sqlite-database-path", db, "--sessions", "50",
                          "--days", "60", "--seed", "11"], stdout=subprocess.DEVNULL)
    if not c.check("datagen", rc == 0):
        return c.finish()
    lib.write_atomic(policy_file, policy(LIMIT >> 20))
    sidecar = lib.Sidecar(binary, db, policy_file, os.path.join(work, "sidecar.log"),
                          extra=["--volume-poll-ms", "250", "--reserve-bytes", "4194304"])
    procs.append(sidecar)
    if not c.check("sidecar ready", sidecar.start()):
        return c.finish()

    # The test copy of the rules: the expressions byte for byte, `for:` shortened.
    rules = os.path.join(work, "rules.yaml")
    durations = lib.write_test_rules(lib.RULES, rules)
    result["for_seconds"] = {a: t for a, (_, t) in durations.items()}
    c.check("test rules differ from %s only in for:" % os.path.relpath(lib.RULES, lib.SOURCE),
            lib.rules_differ_only_in_for(lib.RULES, rules))
    with open(lib.RULES) as f:
        rule_alerts = [line.split()[-1] for line in f if line.strip().startswith("- alert:")]
    c.check("every alert has a for: (%d alerts)" % len(rule_alerts),
            sorted(durations) == sorted(rule_alerts) and set(VOLUME_ALERTS) <= set(rule_alerts),
            durations)
    if shutil.which("promtool"):
        out = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
        c.check("promtool check rules on the test copy", out.returncode == 0,
                out.stdout + out.stderr)

    prom = lib.Prometheus(work, ["127.0.0.1:%d" % sidecar.mport], [rules])
    procs.append(prom)
    if not c.check("prometheus ready on 127.0.0.1:%d" % prom.port, prom.start(prom_bin)):
        print(open(os.path.join(work, "prometheus.log")).read()[-3000:])
        return c.finish()
    loaded = {r["name"]: r for r in prom.rules() if r.get("type") == "alerting"}
    healthy = all(r["health"] in ("ok", "unknown") and int(r["duration"]) == durations[n][1]
                  for n, r in loaded.items())
    c.check("prometheus loaded the %d alerting rules, healthy, with the test for:"
            % len(rule_alerts), sorted(loaded) == sorted(rule_alerts) and healthy,
            {n: (r["health"], r["duration"]) for n, r in loaded.items()})
    up = lib.wait_for(lambda: prom.query('up{job="kagent-retention"} == 1'), 20, 0.2)
    c.check("prometheus scrapes the sidecar (up == 1)", up)

    watch = Watch(prom, t0)
    watch.silent = set(VOLUME_ALERTS) | {FAILING, STALE, INVALID, DOWN}
    # Absent may be pending for the instant before the first scrape; silent from the first up.
    watch.phase = "baseline"
    c.check("no alert fires before the volume fills",
            lib.wait_for(lambda: not any(a["state"] == "firing" for a in watch.poll().values())
                         and ABSENT not in watch.last, 10, 0.2), watch.last)
    watch.silent.add(ABSENT)
    ratio0 = sidecar.value("kagent_retention_volume_usage_ratio")
    log("usage before the fill: %.3f of %d MiB" % (ratio0 or -1, LIMIT >> 20))

    # Fill: 256 KiB events of one active session every 25 ms (10 MB/s) until usage reaches 97%.
    watch.phase = "fill"
    watch.silent -= set(VOLUME_ALERTS)
    writer = lib.spawn([writer_bin, "--db", db, "--session", SESSION, "--interval-ms", "25",
                        "--payload", "262144", "--read-every", "0", "--duration-ms", "120000"],
                       stdout=open(os.path.join(work, "writer.json"), "w"))
    procs.append(types.SimpleNamespace(stop=lambda: lib.stop(writer)))
    t_writer = time.monotonic()
    crossed = {}        # threshold -> monotonic time of the last upward crossing
    below = {0.80: True, 0.85: True, 0.90: True, 0.95: True}
    t_unrelieved = None
    t_writer_stop = None
    max_ratio = 0.0
    fire_budget = max(durations[a][1] for a in VOLUME_ALERTS) + 45
    deadline = time.monotonic() + fire_budget
    while time.monotonic() < deadline:
        m = sidecar.metrics()
        now = time.monotonic()
        ratio = m.get("kagent_retention_volume_usage_ratio")
        if ratio is not None:
            max_ratio = max(max_ratio, ratio)
            for thr in below:
                if ratio >= thr and below[thr]:
                    crossed[thr] = now
                below[thr] = ratio < thr
            if t_writer_stop is None and ratio >= STOP_RATIO:
                lib.stop(writer)
                t_writer_stop = now
        if m.get("kagent_retention_volume_pressure_unrelieved") == 1 and t_unrelieved is None:
            t_unrelieved = now
        if m.get("kagent_retention_volume_pressure_unrelieved") == 0:
            t_unrelieved = None
        if watch.firing(VOLUME_ALERTS):
            break
        if writer.poll() is not None and t_writer_stop is None:
            break  # the writer ended on its own: an error
        time.sleep(0.1)
    lib.stop(writer)
    wres = {}
    try:
        with open(os.path.join(work, "writer.json")) as f:
            wres = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        pass
    c.check("the writer reached %.0f%% of the %d MiB limit" % (STOP_RATIO * 100, LIMIT >> 20),
            t_writer_stop is not None, "max ratio %.3f, writer %s" % (max_ratio, wres))
    c.check("the writer saw no error (no SQLITE_FULL)", wres.get("write_errors") == 0, wres)
    metrics = sidecar.metrics()
    c.check("the sidecar reports pressure it could not relieve",
            metrics.get("kagent_retention_volume_pressure") == 1 and
            metrics.get("kagent_retention_volume_pressure_unrelieved") == 1 and
            metrics.get('kagent_retention_emergency_runs_total{result="unrelieved"}', 0) >= 1,
            {k: v for k, v in metrics.items() if "pressure" in k or "emergency" in k})
    alerts = watch.last
    for a in VOLUME_ALERTS:
        st = alerts.get(a, {})
        c.check("%s is firing (severity %s)" % (a, SEVERITY[a]),
                st.get("state") == "firing" and st["labels"].get("severity") == SEVERITY[a],
                st or "not active")
    q = prom.query('ALERTS{alertstate="firing"}') or []
    c.check("ALERTS{alertstate=\"firing\"} lists the four volume alerts",
            set(VOLUME_ALERTS) <= {s["metric"]["alertname"] for s in q},
            [s["metric"]["alertname"] for s in q])

    # Figures: from the crossing seen on the sidecar's /metrics (polled every 0.1 s) to the alert
    # firing in the API (polled every 0.1-0.2 s): `for:` plus at most a scrape and an evaluation
    # interval (1 s each); 3 s of slack for a loaded 2-core machine.
    fire = {}
    marks = {HIGH: crossed.get(0.90), CRITICAL: crossed.get(0.95), FILLING: crossed.get(0.85),
             UNRELIEVED: t_unrelieved}
    for a, t in marks.items():
        f = watch.first(a, "firing")
        if t is not None and f is not None:
            fire[a] = {"crossing_to_firing_s": round(f - since(t), 2),
                       "for_s": durations[a][1],
                       "overhead_s": round(f - since(t) - durations[a][1], 2)}
    if 0.80 in crossed:
        first_fire = min(watch.first(a, "firing") or 1e9 for a in VOLUME_ALERTS)
        result["watermark_0.80_to_first_volume_alert_firing_s"] = round(
            first_fire - since(crossed[0.80]), 2)
    result["fire"] = fire
    result["fill_seconds"] = round((t_writer_stop or time.monotonic()) - t_writer, 2)
    result["max_usage_ratio"] = round(max_ratio, 3)
    for a, f in fire.items():
        log("%s: crossing -> firing %.2f s (for %d s, scrape+evaluation %.2f s)" % (
            a, f["crossing_to_firing_s"], f["for_s"], f["overhead_s"]))
    c.check("each volume alert fired within its for: + 2 intervals + 3 s of its crossing",
            len(fire) == 4 and all(f["overhead_s"] <= 5.0 for f in fire.values()), fire)
    writes = wres.get("writes", -1)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    kept = con.execute("SELECT count(*) FROM event WHERE session_id = ?", (SESSION,)).fetchone()[0]
    con.close()
    c.check("the ladder kept every event of the active session (%d)" % writes, kept == writes,
            kept)

    # Relieve: a larger spec.volume.sizeLimit, which `run` re-reads when the file changes.
    watch.phase = "relief"
    t_relief = time.monotonic()
    lib.write_atomic(policy_file, policy(RELIEVED_LIMIT >> 20))
    ok = lib.wait_for(lambda: watch.inactive(VOLUME_ALERTS), 30, 0.2)
    t_resolved = time.monotonic()
    c.check("the volume alerts resolve after the limit is raised to %d MiB"
            % (RELIEVED_LIMIT >> 20), ok, watch.last)
    result["relief_to_resolved_s"] = round(t_resolved - t_relief, 2)
    log("policy edit -> all volume alerts resolved: %.2f s" % (t_resolved - t_relief))
    metrics = sidecar.metrics()
    c.check("the sidecar applied the new limit and dropped the pressure",
            metrics.get("kagent_retention_volume_limit_bytes") == RELIEVED_LIMIT and
            metrics.get("kagent_retention_volume_pressure") == 0 and
            metrics.get("kagent_retention_volume_pressure_unrelieved") == 0,
            {k: v for k, v in metrics.items() if "volume" in k})
    watch.silent |= set(VOLUME_ALERTS)

    # An invalid policy: nothing is deleted, KagentRetentionPolicyInvalid fires; fixed, it resolves.
    watch.phase = "invalid policy"
    watch.silent.discard(INVALID)
    t_bad = time.monotonic()
    lib.write_atomic(policy_file, policy(RELIEVED_LIMIT >> 20, high=150))
    ok = lib.wait_for(lambda: watch.firing([INVALID]), durations[INVALID][1] + 20, 0.2)
    c.check("%s fires for an invalid policy" % INVALID, ok, watch.last)
    result["invalid_policy_to_firing_s"] = round(time.monotonic() - t_bad, 2)
    lib.write_atomic(policy_file, policy(RELIEVED_LIMIT >> 20))
    ok = lib.wait_for(lambda: watch.inactive([INVALID]), 20, 0.2)
    c.check("%s resolves once the policy is valid again" % INVALID, ok, watch.last)
    watch.silent.add(INVALID)

    # The sidecar dies: up == 0 fires KagentRetentionDown, absent(up == 1) KagentRetentionAbsent.
    watch.phase = "sidecar down"
    watch.silent -= {DOWN, ABSENT}
    t_kill = time.monotonic()
    sidecar.stop(signal.SIGKILL)
    ok = lib.wait_for(lambda: watch.firing([DOWN, ABSENT]),
                      max(durations[DOWN][1], durations[ABSENT][1]) + 20, 0.2)
    c.check("%s and %s fire when the sidecar is killed" % (DOWN, ABSENT), ok, watch.last)
    for a in (DOWN, ABSENT):
        st = watch.last.get(a, {})
        c.check("%s has severity %s" % (a, SEVERITY[a]),
                st.get("labels", {}).get("severity") == SEVERITY[a], st)
    down = {a: round((watch.first(a, "firing", since(t_kill)) or float("nan")) - since(t_kill), 2)
            for a in (DOWN, ABSENT)}
    result["kill_to_firing_s"] = down
    log("kill -> firing: %s (for %s)" % (down, {a: durations[a][1] for a in down}))
    c.check("the volume alerts stay resolved while the sidecar is down",
            not any(a in watch.last for a in VOLUME_ALERTS), watch.last)
    watch.phase = "sidecar restarted"
    t_restart = time.monotonic()
    c.check("the sidecar restarts on its ports", sidecar.start())
    ok = lib.wait_for(lambda: watch.inactive([DOWN, ABSENT]), 20, 0.2)
    c.check("%s and %s resolve once it is back" % (DOWN, ABSENT), ok, watch.last)
    result["restart_to_resolved_s"] = round(time.monotonic() - t_restart, 2)
    watch.silent |= {DOWN, ABSENT}

    for a in (FAILING, STALE):
        c.check("%s stayed silent throughout (never pending or firing)" % a,
                a not in watch.violations and watch.first(a, "pending") is None,
                watch.violations.get(a))
    others = {a: v for a, v in watch.violations.items() if a not in (FAILING, STALE)}
    c.check("no alert was active outside its phase", not others, others)
    rc = sidecar.stop()
    c.check("sidecar exits 0 on SIGTERM", rc == 0, rc)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    c.check("database intact", con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    con.close()
    result["writer"] = {k: wres.get(k) for k in ("writes", "write_errors", "full_errors")}
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
