#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The reports table at fleet size: growth per day, and retention by DELETE against dropping a partition.
#
#   bench/run-reports-bench.sh [MINUTES]
#
# Starts a durable private cluster (fsync on, the default checkpoint and WAL
# settings), applies the migrations, creates HOSTS providers and loads
# MINUTES (30) of the fleet's reports: HOSTS hosts (100000) each publishing
# once per HEARTBEAT seconds (300), every report a realistic one (the seven
# traits with their reasons, every facts field the reporter sends). Then it
# measures, on the same rows:
#   - their size (heap, TOAST, indexes) and the WAL their inserts wrote, per
#     report and per day of the fleet;
#   - retention by DELETE as vtpm.publish() does it, of the older half of
#     twice that many reports (the newer half stays, as the last two weeks
#     would): one statement per report, in the order they were written, on the
#     (provider_id, reported_at) index, after a checkpoint (a report is
#     deleted two weeks after it was written, when its page has long been
#     written out); then the VACUUM that makes the space reusable; time, WAL,
#     and what the table's files hold afterwards;
#   - retention by dropping a partition that holds the same older half.
# Prints Markdown. Everything is removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
minutes=${1:-30}
hosts=${HOSTS:-100000}
heartbeat=${HEARTBEAT:-300}
build=${BUILD:-$root/build-bench-inventory}
work=$(mktemp -d /tmp/vtpm-repbench-XXXXXX)
chmod 755 "$work"   # the cluster runs as the postgres user

cleanup() {
    "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$build/sql/vtpm-inventory/vtpm-inventory" ]; then
    [ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
    ninja -C "$build" sql/vtpm-inventory/vtpm-inventory >/dev/null
fi

dsn=$(VTPM_PG_FAST=0 "$root/scripts/pg-cluster.sh" start "$work/pg")
psql "$dsn" -qXc "CREATE DATABASE inventory" >/dev/null
dsn=${dsn/dbname=postgres/dbname=inventory}
"$build/sql/vtpm-inventory/vtpm-inventory" --dsn "$dsn" --dir "$root/sql/migrations" migrate >/dev/null

q() { psql "$dsn" -XAtq -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
lsn() { q -c "SELECT pg_current_wal_lsn()"; }
wal_since() { q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$1')"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
bytes_of() { q -c "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.oid IN ($1)"; }

rows=$((hosts * minutes * 60 / heartbeat))
per_day=$((hosts * 86400 / heartbeat))

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs; hosts=$hosts heartbeat=${heartbeat}s minutes=$minutes" \
     "rows=$rows; PostgreSQL $(q -c 'SHOW server_version')"

# Providers, then the sample: report i is host (i mod HOSTS), written at
# t0 + i * HEARTBEAT / HOSTS seconds, as a steady fleet would.
q <<SQL
SET ROLE vtpm_owner;
INSERT INTO vtpm.resource_providers (uuid, name, generation, tpm_bits)
SELECT gen_random_uuid(), format('compute-%s.example', i), 1, 59 FROM generate_series(1, $hosts) AS i;
CREATE TABLE vtpm.bench_doc AS
SELECT (SELECT jsonb_object_agg(t.name, jsonb_build_object(
            'present', t.bit NOT IN (2, 6),
            'code', CASE WHEN t.bit IN (2, 6) THEN 'libvirt_no_model' ELSE 'ok' END,
            'reason', CASE WHEN t.bit IN (2, 6)
                           THEN 'libvirt 9.0.0 on QEMU 7.2.0 does not list this model in its domain capabilities'
                           ELSE 'swtpm 0.8.2 and libvirt 9.0.0 on QEMU 7.2.0 support it' END))
          FROM vtpm.traits t WHERE t.bit IS NOT NULL) AS traits,
       '{"libvirt": {"status": "ok", "error": "", "hypervisor": "QEMU", "libvirt_version": "9.0.0",
          "hypervisor_version": "7.2.0", "arch": "x86_64", "virt_type": "kvm", "tpm_element": true,
          "tpm_supported": true, "model_tis": true, "model_crb": true, "backend_emulator": true,
          "backend_version_element": true, "backend_1_2": true, "backend_2_0": true},
         "swtpm": {"status": "ok", "error": "", "swtpm": {"found": true, "path": "/usr/bin/swtpm"},
          "swtpm_setup": {"found": true, "path": "/usr/bin/swtpm_setup"},
          "swtpm_ioctl": {"found": true, "path": "/usr/bin/swtpm_ioctl"}, "version": "0.8.2",
          "tpm_1_2": true, "tpm_2_0": true, "pwd_fd": true,
          "features": ["tpm-1.2", "tpm-2.0", "cmdarg-pwd-fd", "cmdarg-seccomp", "cmdarg-key-fd",
                       "cmdarg-pwdfile-fd", "cmdarg-print-profiles"],
          "from_cache": true, "setup_caps": true, "setup_version": "0.8.2", "setup_pwdfile_fd": true,
          "setup_features": ["cmdarg-keyfile-fd", "cmdarg-pwdfile-fd", "tpm12-not-need-root",
                             "cmdarg-write-ek-cert-files", "cmdarg-create-config-files",
                             "cmdarg-reconfigure-pcr-banks", "tpm2-rsa-keysize-2048"]},
         "system": {"status": "ok", "user": "tss", "group": "tss", "user_exists": true,
          "group_exists": true, "key_manager_status": "ok", "key_manager_configured": true,
          "key_manager_checked": true, "key_manager_reachable": true, "key_manager_http_status": 200,
          "key_manager_error": ""},
         "deep": {"status": "not_run", "tpm_1_2": "not_run", "tpm_2_0": "not_run", "error_1_2": "",
          "error_2_0": ""}}'::jsonb AS facts;
SQL
present=$(q -c "SELECT vtpm.trait_names(59)")

# The sample goes into tables of the bench's own, whatever the migrations
# made of vtpm.reports: a plain one as 0001 made it, and one partitioned by
# time. Twice the sample: the older half for retention, the newer half stays.
q <<SQL >/dev/null
SET ROLE vtpm_owner;
CREATE TABLE vtpm.bench_plain (LIKE vtpm.reports INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE INDEX ON vtpm.bench_plain (provider_id, reported_at);
CREATE INDEX ON vtpm.bench_plain (reported_at) WHERE status = 'changed';
SQL
start=$(lsn); t0=$(now)
q -c "SET ROLE vtpm_owner;
      INSERT INTO vtpm.bench_plain (id, provider_id, host, reported_at, reporter, status, generation, present, traits, facts)
      SELECT i + 1, rp.id, rp.name, now() - interval '1 day' + make_interval(secs => i::double precision * $heartbeat / $hosts),
             'reporter_' || rp.id, 'unchanged', 1, '$present',
             d.traits, jsonb_set(d.facts, '{host}', to_jsonb(rp.name))
        FROM generate_series(0, 2 * $rows - 1) AS i
        JOIN vtpm.resource_providers rp ON rp.id = i % $hosts + 1
       CROSS JOIN vtpm.bench_doc d" >/dev/null
t1=$(now)
insert_wal=$(($(wal_since "$start") / 2))
q -c "VACUUM ANALYZE vtpm.bench_plain" >/dev/null

rel="'vtpm.bench_plain'::regclass"
heap=$(q -c "SELECT pg_relation_size($rel)")
toast=$(q -c "SELECT coalesce(pg_total_relation_size(reltoastrelid), 0) FROM pg_class WHERE oid = $rel")
idx=$(q -c "SELECT pg_indexes_size($rel)")
heap=$((heap / 2)); toast=$((toast / 2)); idx=$((idx / 2))
total=$((heap + toast + idx))

per_report=$((total / rows))
wal_per_report=$((insert_wal / rows))
gib() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1073741824 }'; }

cat <<EOF

Reports per day at $hosts hosts, one per $heartbeat s: $per_day ($((per_day / 1440)) a minute, $((per_day / 86400)) a second).

| per report | bytes | per day of the fleet |
|---|---:|---:|
| heap | $((heap / rows)) | $(gib $((heap / rows * per_day))) GiB |
| TOAST | $((toast / rows)) | $(gib $((toast / rows * per_day))) GiB |
| indexes | $((idx / rows)) | $(gib $((idx / rows * per_day))) GiB |
| **table** | **$per_report** | **$(gib $((per_report * per_day))) GiB** (14 days kept: $(gib $((per_report * per_day * 14))) GiB) |
| WAL of the inserts | $wal_per_report | $(gib $((wal_per_report * per_day))) GiB |

Loading twice $rows sample reports: $(secs "$t0" "$t1") s.
EOF

# The same rows partitioned by time: the older half in one partition.
boundary=$(q -c "SELECT reported_at FROM vtpm.bench_plain WHERE id = $rows + 1")
q <<SQL >/dev/null
SET ROLE vtpm_owner;
CREATE TABLE vtpm.bench_part (LIKE vtpm.reports INCLUDING DEFAULTS) PARTITION BY RANGE (reported_at);
CREATE TABLE vtpm.bench_part_old PARTITION OF vtpm.bench_part FOR VALUES FROM (MINVALUE) TO ('$boundary');
CREATE TABLE vtpm.bench_part_new PARTITION OF vtpm.bench_part FOR VALUES FROM ('$boundary') TO (MAXVALUE);
CREATE INDEX ON vtpm.bench_part (provider_id, reported_at);
CREATE INDEX ON vtpm.bench_part (reported_at) WHERE status = 'changed';
INSERT INTO vtpm.bench_part SELECT * FROM vtpm.bench_plain;
VACUUM ANALYZE vtpm.bench_part;
SQL

# Retention by DELETE, one report at a time in the order they were written,
# with publish()'s predicate on the (provider_id, reported_at) index.
q -c "CHECKPOINT" >/dev/null
start=$(lsn); t0=$(now)
q <<SQL >/dev/null
SET ROLE vtpm_owner;
DO \$\$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT provider_id, reported_at FROM vtpm.bench_plain ORDER BY id LIMIT $rows LOOP
        DELETE FROM vtpm.bench_plain x WHERE x.provider_id = r.provider_id AND x.reported_at <= r.reported_at;
    END LOOP;
END
\$\$;
SQL
t1=$(now)
delete_wal=$(wal_since "$start")
start=$(lsn); t2=$(now)
q -c "VACUUM vtpm.bench_plain" >/dev/null
t3=$(now)
vacuum_wal=$(wal_since "$start")
after=$(bytes_of "$rel")
left=$(q -c "SELECT count(*) FROM vtpm.bench_plain")

# Retention by dropping the partition.
q -c "CHECKPOINT" >/dev/null
start=$(lsn); t4=$(now)
q -c "SET ROLE vtpm_owner; DROP TABLE vtpm.bench_part_old" >/dev/null
t5=$(now)
drop_wal=$(wal_since "$start")
after_drop=$(bytes_of "SELECT relid FROM pg_partition_tree('vtpm.bench_part')")

del_s=$(secs "$t0" "$t1"); vac_s=$(secs "$t2" "$t3"); drop_s=$(secs "$t4" "$t5")
day_scale() { awk -v s="$1" -v d="$per_day" -v r="$rows" 'BEGIN { printf "%.0f", s * d / r }'; }
cat <<EOF

Retention of the older $rows sample reports ($left left after the DELETEs):

| | time | WAL | table files afterwards | for one day of the fleet ($per_day reports) |
|---|---:|---:|---:|---|
| DELETE, one report at a time | $del_s s | $((delete_wal / 1048576)) MiB ($((delete_wal / rows)) B a report) | | $(day_scale "$del_s") s of a backend, $(gib $((delete_wal / rows * per_day))) GiB of WAL |
| then VACUUM | $vac_s s | $((vacuum_wal / 1048576)) MiB | $((after / 1048576)) MiB, as before: half of it free space for reuse | $(day_scale "$vac_s") s, $(gib $((vacuum_wal / rows * per_day))) GiB of WAL |
| DROP of a partition | $drop_s s | $((drop_wal / 1024)) KiB | $((after_drop / 1048576)) MiB: the newer half's; the older half's files are gone | one DROP a day |
EOF
