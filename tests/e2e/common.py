# SPDX-License-Identifier: Apache-2.0
"""Shared facts of the e2e tests: repository paths, the bad policies, small helpers."""
import calendar
import glob
import os
import re
import socket
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CRD_FILE = os.path.join(REPO, "manifests", "crd", "kagent.dev_retentionpolicies.yaml")
SAMPLES = sorted(glob.glob(os.path.join(REPO, "manifests", "samples", "*.yaml")))
BAD_DIR = os.path.join(REPO, "tests", "data", "policies", "bad")
RP_PATH = "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies"

# Bad policies the CRD schema cannot reject when they come through kubectl: they pass
# admission and only the controller reports them (Ready=False, InvalidSpec).
#  - wrong-type-bool: kubectl reads YAML 1.1, where the plain scalar `yes` is the boolean true,
#    so the server receives "dryRun": true. The JSON string "yes" is rejected (see test_api).
CONTROLLER_ONLY = {"wrong-type-bool"}


def bad_policies():
    """[(name, expected field path, YAML text of a whole RetentionPolicy object)]."""
    out = []
    for path in sorted(glob.glob(os.path.join(BAD_DIR, "*.yaml"))):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            text = f.read()
        expect = re.search(r"^# expect: (\S+)", text, re.M).group(1)
        doc = yaml.safe_load(text)
        if "apiVersion" in doc:
            obj_text = text
        else:
            body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
            obj_text = ("apiVersion: kagent.dev/v1alpha1\nkind: RetentionPolicy\nmetadata:\n"
                        "  name: bad-%s\n  namespace: kagent\n%s\n" % (name, body))
        out.append((name, expect, obj_text))
    return out


def load_crd():
    with open(CRD_FILE) as f:
        return yaml.safe_load(f)


def free_port():
    """A TCP port free on 127.0.0.1 now (for --metrics-bind-address and the like)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def go_time(t):
    """A Unix time in kagent's GORM layout: '2006-01-02 15:04:05.999999999+00:00' (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + ".%09d+00:00" % int(
        (t % 1) * 1e9)


def wall_ms(ts):
    """A log line's timestamp (RFC 3339 UTC with milliseconds) -> Unix milliseconds."""
    base = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return base * 1000 + (int(ts[20:23]) if ts[19:20] == "." else 0)
