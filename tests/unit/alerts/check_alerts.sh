#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The alert rules: the plain rules file and the PrometheusRule are identical and valid
# (promtool check rules), every alert passes its promtool unit tests, and every alert has a
# test where it fires and one where it stays silent. promtool is required: without it the test
# fails (scripts/install-deps test installs the Debian package prometheus).
set -euo pipefail
src=${KR_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
cd "$src"
rules=manifests/prometheus/rules.yaml
resource=manifests/prometheus/prometheusrule.yaml
tests=tests/unit/alerts/alerts_test.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v promtool >/dev/null; then
        echo "FAIL: promtool not found (install the Debian package prometheus)" >&2
        exit 1
fi

# 1. The PrometheusRule is exactly what the generator writes from the rules file.
if ! scripts/gen-prometheusrule | diff -u "$resource" -; then
        echo "FAIL: $resource is stale: run scripts/gen-prometheusrule > $resource" >&2
        exit 1
fi

# 2. Both are valid rules (the resource's spec, unindented, is a rules file).
promtool check rules "$rules"
sed -n '/^spec:/,$p' "$resource" | tail -n +2 | sed 's/^  //' >"$tmp/spec.yaml"
promtool check rules "$tmp/spec.yaml"

# 3. The unit tests pass.
(cd "$(dirname "$tests")" && promtool test rules "$(basename "$tests")")

# 4. Every alert is tested firing (a non-empty exp_alerts) and silent (exp_alerts: []).
missing=$(awk -v rules="$rules" '
        BEGIN {
                while ((getline line < rules) > 0)
                        if (match(line, /- alert: [A-Za-z]+/))
                                alerts[substr(line, RSTART + 9, RLENGTH - 9)] = 1
        }
        /alertname:/ { name = $2 }
        /exp_alerts: \[\]/ { silent[name] = 1; next }
        /exp_alerts:/ { fires[name] = 1 }
        END {
                for (a in alerts) {
                        if (!(a in fires)) print a " (never tested firing)"
                        if (!(a in silent)) print a " (never tested silent)"
                }
        }' "$tests")
if [ -n "$missing" ]; then
        echo "FAIL: alerts without a test case:" >&2
        echo "$missing" >&2
        exit 1
fi
echo "alerts: $(grep -c -- '- alert:' "$rules") alerts valid, tested firing and silent"
