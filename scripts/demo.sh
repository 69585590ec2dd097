#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on a built-in default: build, start a private PostgreSQL cluster,
# probe this host, publish its vTPM traits, show the inventory and schedule,
# last with a real nova-scheduler.
#
#   scripts/demo.sh          run it (state in ./.vtpm-demo, cluster left running)
#   scripts/demo.sh stop     stop the demo's PostgreSQL cluster (and libvirtd if it started it)
#   scripts/demo.sh clean    stop and remove ./.vtpm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

state=$top/.vtpm-demo
builddir=${VTPM_DEMO_BUILDDIR:-build}

. scripts/lib/ports.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo_stop() {
    if [ -d "$state/nova/placement" ]; then
        tests/fixtures/placement-api.sh stop "$state/nova/placement" || true
    fi
    if [ -d "$state/pg" ]; then
        scripts/pg-cluster.sh stop "$state/pg" || true
    fi
    if [ -d "$state/barbican" ]; then
        tests/fixtures/barbican.sh stop "$state/barbican" || true
    fi
    if [ -e "$state/libvirtd" ]; then
        tests/fixtures/libvirtd.sh stop "$state/libvirtd" || true
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
case "$builddir" in /*) bin=$builddir ;; *) bin=$top/$builddir ;; esac
filter=$bin/scheduler/cli/vtpm-filter
reporter=$bin/reporter/cli/vtpm-reporter
inventory=$bin/sql/vtpm-inventory/vtpm-inventory
mkdir -p "$state"

say "Starting a private PostgreSQL cluster in $state/pg"
dsn=$(scripts/pg-cluster.sh start "$state/pg")
echo "inventory: $dsn"
psql_q() { psql "$dsn" -X -v ON_ERROR_STOP=1 -P pager=off "$@"; }

say "Applying the inventory migrations"
"$inventory" migrate --dsn "$dsn" --dir sql/migrations

say "Making sure libvirtd answers (qemu:///system)"
tests/fixtures/libvirtd.sh start "$state/libvirtd"
virsh -c qemu:///system version | sed 's/^/  /'

say "Starting a key manager (Debian's barbican-api) on 127.0.0.1"
# TPM state is encrypted with a passphrase kept in the key manager: without one,
# a host cannot run a vTPM. The demo runs a local Barbican without keystone.
km_port=$(vtpm_free_ports 1)
tests/fixtures/barbican.sh start "$state/barbican" "$km_port"

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
state_dir: $state/state
key_manager:
  backend: barbican
  url: http://127.0.0.1:$km_port
  timeout: 5
  check: true
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

# The probe is done: the key manager and (if the demo started it) libvirtd can go.
tests/fixtures/barbican.sh stop "$state/barbican"
tests/fixtures/libvirtd.sh stop "$state/libvirtd"

say "Sample neighbours, published through the same function"
# Sample hosts so that the views have something to compare with: one that lost
# TPM 1.2 with a swtpm upgrade, one with libvirt 7, one whose libvirtd stopped
# answering, one without vTPM at all, one that stopped reporting.
if [ "$(psql_q -At -c "SELECT count(*) FROM vtpm.hosts WHERE host LIKE 'sample-%'")" = 0 ]; then
    psql_q -q -o /dev/null -f sql/demo/sample_hosts.sql
    echo "  published sample-no-tpm12, sample-old-libvirt, sample-libvirt-down, sample-no-swtpm, sample-quiet"
else
    echo "  already there (scripts/demo.sh clean starts over)"
fi

say "The inventory: one row per host (vtpm.hosts)"
psql_q -c "SELECT host, tpm_1_2, tpm_2_0, tis, crb, secret_user AS s_user, secret_host AS s_host,
                  secret_deployment AS s_depl, age, stale
             FROM vtpm.hosts ORDER BY host"

say "Why traits are absent (vtpm.host_traits)"
psql_q -c "SELECT host, replace(trait, 'COMPUTE_SECURITY_', '') AS trait, reason
             FROM vtpm.host_traits WHERE NOT present ORDER BY host, bit"

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
psql_q -At -c "SELECT json_build_object('name', host,
                        'traits', coalesce(array_agg(trait ORDER BY bit) FILTER (WHERE present), '{}'))
                   FROM vtpm.host_traits GROUP BY host ORDER BY host" \
    > "$state/hosts.jsonl"
sed -n 2p "$requests" > "$state/request-crb.json"
rc=0
"$filter" host --hosts "$state/hosts.jsonl" "$state/request-crb.json" > "$state/verdicts.jsonl" || rc=$?
jq -r '[.host, .result, (.missing_traits | join(","))] | @tsv' "$state/verdicts.jsonl" \
    | column -t -s $'\t' -N HOST,RESULT,MISSING | sed 's/^/  /'
echo "(exit status $rc: 0 some host passes, 1 none does)"

say "The same question asked of the database (vtpm.candidates)"
psql_q -c "SELECT host FROM vtpm.candidates(ARRAY['COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER']) ORDER BY host"

say "The scheduler's way: the request against its in-memory inventory (vtpm-filter candidates)"
rc=0
"$filter" candidates --dsn "$dsn" "$state/request-crb.json" > "$state/candidates.json" || rc=$?
jq -c '{result, required_traits, count, candidates}' "$state/candidates.json" | sed 's/^/  /'
uuids=$(jq -r '.candidates // [] | join(",")' "$state/candidates.json")
psql_q -c "SELECT uuid, host FROM vtpm.hosts WHERE uuid = ANY ('{$uuids}'::uuid[]) ORDER BY host"
echo "(exit status $rc: 0 a host can take it, 1 none can or the request is refused)"

say "Questions admins ask (sql/demo/admin_questions.sql)"
scripts/admin-questions.sh "$dsn" > "$state/admin-questions.md"
echo "  $(grep -c '^## [0-9]' "$state/admin-questions.md") questions answered: $state/admin-questions.md"

say "A real nova-scheduler choosing hosts, with VTPMFilter and without it"
# Debian's python3-nova: sqlite databases made by nova-manage, placement-api on
# 127.0.0.1, every host above registered as a compute node, the scheduler
# service in one /usr/bin/python3 process (scripts/demo-nova.py).
tests/fixtures/placement-api.sh stop "$state/nova/placement" >/dev/null 2>&1 || true
rm -rf "$state/nova"
chmod 755 "$state"
PYTHONPATH=$top/scheduler/nova /usr/bin/python3 scripts/demo-nova.py "$state/nova" "$bin" "$dsn" \
    2> >(grep -v 'known eventlet monkey patching issues' >&2)

say "Done"
echo "The inventory is still running: psql '$dsn'"
echo "Stop it with: scripts/demo.sh stop   (or remove everything: scripts/demo.sh clean)"
