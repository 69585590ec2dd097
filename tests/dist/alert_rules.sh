#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dist/prometheus/vtpm-alerts.yml: promtool check rules, its unit test (promtool test rules),
# and that unit test failing on a copy of the rules with one threshold changed.
set -uo pipefail
root=${1:?usage: alert_rules.sh SOURCE_ROOT}

if ! command -v promtool >/dev/null; then
    if [ "${CI:-}" = true ] || [ "${VTPM_TEST_REQUIRE_ALL:-}" = 1 ]; then
        echo "Bail out! needs promtool (Debian package prometheus)"
        exit 1
    fi
    echo "1..0 # SKIP needs promtool (Debian package prometheus)"
    exit 0
fi

echo "1..3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() {  # DESCRIPTION EXPECTED-STATUS COMMAND...
    local what=$1 want=$2 out rc
    shift 2
    n=$((n + 1))
    out=$("$@" 2>&1)
    rc=$?
    if { [ "$want" = 0 ] && [ "$rc" = 0 ]; } || { [ "$want" != 0 ] && [ "$rc" != 0 ]; }; then
        echo "ok $n - $what"
    else
        printf '%s\n' "$out" | sed 's/^/# /'
        echo "not ok $n - $what"
        failed=1
    fi
}
failed=0

check "promtool check rules accepts the alerting rules" 0 \
    promtool check rules "$root/dist/prometheus/vtpm-alerts.yml"
check "promtool test rules: each alert fires where expected, and only there" 0 \
    promtool test rules "$root/tests/dist/vtpm-alerts.test.yml"

# The same unit test over rules where exit status 3 (unchanged) counts as a failure:
# it must fail, or it tests nothing.
mkdir -p "$tmp/dist/prometheus" "$tmp/tests/dist"
cp "$root/tests/dist/vtpm-alerts.test.yml" "$tmp/tests/dist/"
sed 's/vtpm_reporter_last_run_exit_status != 3/vtpm_reporter_last_run_exit_status != 1/' \
    "$root/dist/prometheus/vtpm-alerts.yml" > "$tmp/dist/prometheus/vtpm-alerts.yml"
if cmp -s "$root/dist/prometheus/vtpm-alerts.yml" "$tmp/dist/prometheus/vtpm-alerts.yml"; then
    n=$((n + 1))
    echo "not ok $n - the mutation found its target in vtpm-alerts.yml"
    exit 1
fi
check "the unit test fails when a rule is wrong" 1 \
    promtool test rules "$tmp/tests/dist/vtpm-alerts.test.yml"
exit "$failed"
