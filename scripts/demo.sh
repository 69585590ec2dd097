#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on a built-in default: build, start a private PostgreSQL cluster,
# probe this host, publish its vTPM traits, show the inventory and schedule.
#
#   scripts/demo.sh          run it (state in ./.vtpm-demo, cluster left running)
#   scripts/demo.sh stop     stop the demo's PostgreSQL cluster (and libvirtd if it started it)
#   scripts/demo.sh clean    stop and remove ./.vtpm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

state=$top/.vtpm-demo
builddir=${VTPM_DEMO_BUILDDIR:-build}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo_stop() {
    if [ -d "$state/pg" ]; then
        scripts/pg-cluster.sh stop "$state/pg" || true
    fi
    if [ -f "$state/libvirtd.started" ]; then
        tests/fixtures/libvirtd.sh stop "$state/libvirtd" || true
        rm -f "$state/libvirtd.started"
    fi
}

case "${1:-run}" in
run) ;;
stop) demo_stop; exit 0 ;;
clean) demo_stop; rm -rf "$state"; exit 0 ;;
*) echo "usage: $0 [run|stop|clean]" >&2; exit 2 ;;
esac

say "Installing Debian packages (idempotent)"
if [ "$(id -u)" -eq 0 ]; then scripts/setup.sh; else sudo scripts/setup.sh; fi

say "Building"
if [ ! -d "$builddir" ]; then
    meson setup "$builddir" --buildtype=release >/dev/null
fi
ninja -C "$builddir" >/dev/null
bin=$top/$builddir
filter=$bin/scheduler/vtpm-filter
reporter=$bin/reporter/vtpm-reporter
inventory=$bin/sql/vtpm-inventory
mkdir -p "$state"

say "Starting a private PostgreSQL cluster in $state/pg"
dsn=$(scripts/pg-cluster.sh start "$state/pg")
echo "inventory: $dsn"
psql_q() { psql "$dsn" -X -v ON_ERROR_STOP=1 -P pager=off "$@"; }

say "Applying the inventory migrations"
"$inventory" migrate --dsn "$dsn"

say "Making sure libvirtd answers (qemu:///system)"
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    tests/fixtures/libvirtd.sh start "$state/libvirtd"
    touch "$state/libvirtd.started"
fi
virsh -c qemu:///system version | sed 's/^/  /'

say "Probing this host"
virt_type=qemu
[ -w /dev/kvm ] && virt_type=kvm
cat > "$state/reporter.yaml" <<EOF
# Written by scripts/demo.sh: this host, published to the demo inventory.
uri: qemu:///system
virt_type: $virt_type
swtpm_enabled: true
swtpm_user: tss
swtpm_group: tss
supported_tpm_secret_security: [user, host]
cache_dir: $state/cache
lock_file: $state/reporter.lock
inventory: postgres
postgres:
  dsn: "$dsn"
EOF
rc=0
"$reporter" probe --config "$state/reporter.yaml" || rc=$?
echo "(probe exit status $rc)"

say "Publishing this host's traits (vtpm-reporter run)"
rc=0
"$reporter" run --config "$state/reporter.yaml" || rc=$?
echo "(run exit status $rc: 0 published with changes, 3 nothing changed)"

say "Three sample neighbours, published through the same function"
# Sample hosts so that the views have something to compare with: one without
# swtpm's TPM 1.2, one whose libvirt has no CRB, one without vTPM at all.
psql_q -q -f sql/demo/sample_hosts.sql

say "The inventory: one row per host (vtpm.host_traits)"
psql_q -c "SELECT host, tpm_1_2, tpm_2_0, tis, crb, ss_user, ss_host, ss_deployment,
                  to_char(last_report, 'HH24:MI:SS') AS last_report, stale
             FROM vtpm.host_traits ORDER BY host"

say "Why traits are absent (vtpm.host_absent_reasons)"
psql_q -c "SELECT host, trait, reason FROM vtpm.host_absent_reasons ORDER BY host, trait"

say "Sample requests, translated the way Nova does (vtpm-filter check)"
requests=$state/requests.jsonl
cat > "$requests" <<'EOF'
{"id":"plain flavor","flavor":{"name":"m1.small","extra_specs":{"hw:cpu_policy":"shared"}}}
{"id":"TPM 2.0 CRB","flavor":{"name":"vtpm.crb","extra_specs":{"hw:tpm_version":"2.0","hw:tpm_model":"tpm-crb"}}}
{"id":"TPM 2.0 from the image","image":{"name":"win11","properties":{"hw_tpm_version":"2.0"}}}
{"id":"TPM 1.2, host secret","flavor":{"name":"vtpm.12","extra_specs":{"hw:tpm_version":"1.2","hw:tpm_secret_security":"host"}}}
{"id":"flavor vs image","flavor":{"name":"vtpm.20","extra_specs":{"hw:tpm_version":"2.0"}},"image":{"name":"old","properties":{"hw_tpm_version":"1.2"}}}
{"id":"CRB with 1.2","flavor":{"name":"bad","extra_specs":{"hw:tpm_version":"1.2","hw:tpm_model":"tpm-crb"}}}
{"id":"version typo","flavor":{"name":"typo","extra_specs":{"hw:tpm_version":"2"}}}
EOF
"$filter" check --jsonl "$requests" > "$state/results.jsonl" || true
jq -r '[.id, .result, (if .result == "accept" then ((.vtpm // {}) | [.version, .model, .secret_security] | map(. // "-") | join(" ")) else .code end), (.message // (.required_traits | join(",")))] | @tsv' \
    "$state/results.jsonl" | column -t -s $'\t' -N REQUEST,RESULT,VTPM/CODE,TRAITS/MESSAGE | sed 's/^/  /'

say "Candidate hosts for 'TPM 2.0 CRB' (vtpm-filter host over the inventory)"
psql_q -At -c "SELECT json_build_object('name', host, 'traits', traits) FROM vtpm.host_trait_names ORDER BY host" \
    > "$state/hosts.jsonl"
sed -n 2p "$requests" > "$state/request-crb.json"
rc=0
"$filter" host --hosts "$state/hosts.jsonl" "$state/request-crb.json" > "$state/verdicts.jsonl" || rc=$?
jq -r '[.host, .result, (.missing_traits | join(","))] | @tsv' "$state/verdicts.jsonl" \
    | column -t -s $'\t' -N HOST,RESULT,MISSING | sed 's/^/  /'
echo "(exit status $rc: 0 some host passes, 1 none does)"

say "The same question asked of the database (vtpm.candidate_hosts)"
psql_q -c "SELECT * FROM vtpm.candidate_hosts(ARRAY['COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER'])"

say "Done"
echo "The inventory is still running: psql '$dsn'"
echo "Stop it with: scripts/demo.sh stop   (or remove everything: scripts/demo.sh clean)"
