#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages from a clean copy of the tree, installs them and runs what they installed.
#
# The packages are built with dpkg-buildpackage (nocheck: the suite that runs
# this test is the check) and checked with lintian: no error, and every
# warning listed with its reason in docs/packaging.md. Then, installed with
# `apt-get install ./*.deb` into this machine, only the installed paths are
# used, as on a fresh host following docs/deploy.md:
#   - vtpm-inventory migrates a private PostgreSQL cluster without --dir and
#     binds a reporter login;
#   - vtpm-reporter probes this host with the packaged example configuration
#     (libvirtd from tests/fixtures/libvirtd.sh), then publishes it twice with
#     a minimal configuration (exit 0 changed, then 3 unchanged);
#   - vtpm-filter checks a request and lists the published host as a candidate;
#   - the packaged examples build against the -dev packages with pkg-config
#     and run on the installed libraries (inventory_example finds the host);
#   - /usr/bin/python3 imports vtpm_placement from /usr/lib/python3 and the
#     Nova filter module, and finds the host through the installed libraries;
#   - the build tree's programs still load the build's libraries, not the
#     installed ones (RUNPATH), and the source tree's Python package wins
#     over the installed one where the tests put it on PYTHONPATH.
# A second build as a newer version upgrades them in place, keeping the admin's
# conffile change and the reporter's cache. `apt-get remove` leaves only
# conffiles; purging them leaves nothing
# (every file found before the install and after the purge is compared).
# The packages are purged on any exit. Needs root; refuses to run when one of
# the packages is already installed (it would remove it). Prints TAP.
set -euo pipefail

src=${VTPM_SOURCE_ROOT:?}
build=${VTPM_BUILD_ROOT:-}

# shellcheck source=tap.sh
. "$src/tests/install/tap.sh"

# Nothing of the test harness's environment reaches the package build or the
# installed programs: meson points LD_LIBRARY_PATH at the build's (sanitized)
# libraries, and the build's tests set PYTHONPATH, pkg-config and sanitizer
# variables.
unset LD_LIBRARY_PATH LD_PRELOAD PYTHONPATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR \
    PKG_CONFIG_SYSROOT_DIR ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MALLOC_PERTURB_ \
    DEB_BUILD_OPTIONS DEB_BUILD_PROFILES MAKEFLAGS MFLAGS VTPM_DSN

skip() {  # by hand a skip, where every test must run (scripts/test.sh) a failure
    if [ "${CI:-}" = true ] || [ "${VTPM_TEST_REQUIRE_ALL:-0}" = 1 ]; then
        echo "Bail out! $1"
        exit 1
    fi
    echo "1..0 # SKIP $1"
    exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root to install packages with apt-get"
for tool in dpkg-buildpackage dh lintian apt-get psql cc pkg-config systemd-analyze; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "needs $tool (scripts/setup.sh installs it)"
done

mapfile -t packages < <(sed -n 's/^Package: *//p' "$src/debian/control")
for p in "${packages[@]}"; do
    if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
        skip "package $p is already on this machine; this test would remove it"
    fi
done

work=$(mktemp -d /tmp/vtpm-packages-XXXXXX)
chmod 755 "$work"  # the cluster runs as the postgres user below it
installed=0
cleanup() {
    set +e
    local p known=()
    if [ "$installed" = 1 ]; then
        for p in "${packages[@]}"; do
            dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$' &&
                known+=("$p")
        done
        if [ "${#known[@]}" -gt 0 ]; then
            dpkg --purge "${known[@]}" >"$work/purge-on-exit.log" 2>&1 ||
                echo "# purge on exit failed: $(tail -n 5 "$work/purge-on-exit.log")"
        fi
    fi
    "$src/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
    stop_libvirtd
    rm -rf "$work"
}
trap cleanup EXIT

# libvirtd for the reporter: started by tests/fixtures/libvirtd.sh unless it
# answers already, and checked again before each use, since a libvirtd
# started by someone else may be stopped by them meanwhile. Each start has
# its own state file; only the daemons this test started are stopped.
libvirtd_starts=0
need_libvirtd() {
    libvirtd_starts=$((libvirtd_starts + 1))
    "$src/tests/fixtures/libvirtd.sh" start "$work/libvirtd.$libvirtd_starts.state" >/dev/null 2>&1 ||
        { echo "libvirtd does not answer on qemu:///system (tests/fixtures/libvirtd.sh)"; return 1; }
}
stop_libvirtd() {
    local f
    for f in "$work"/libvirtd.*.state; do
        [ -e "$f" ] && "$src/tests/fixtures/libvirtd.sh" stop "$f" >/dev/null 2>&1
    done
    return 0
}

bail() {  # the rest depends on this step
    echo "Bail out! $1"
    echo "1..$n"
    exit 1
}

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"
}

leftovers() {  # every path named after the project in the system's folders
    # man-db's own cache of formatted pages (/var/cache/man) is man-db's to expire.
    find /etc /usr /lib /var/lib /var/cache /var/log \( -path /usr/local -o -path /var/cache/man \) -prune -o \
        \( -name '*vtpm*' -o -name 'reporter.yaml*' \) -print 2>/dev/null | sort
}

# --- build -------------------------------------------------------------------

# A clean copy: what git knows of (committed or not, ignored files left out),
# or, outside a git checkout, the whole tree.
export_tree() {
    mkdir -p "$work/src"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$src" ls-files -z --cached --others --exclude-standard |
            (cd "$src" && tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$work/src"
    else
        (cd "$src" && tar --exclude=.git -cf - .) | tar -xf - -C "$work/src"
    fi
}
check "a clean copy of the tree is exported" export_tree

build_packages() {
    (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
        dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; return 1; }
}
check "dpkg-buildpackage -us -uc -b builds the packages" build_packages
[ "$failed" = 0 ] || bail "the packages did not build"

debs=()
for p in "${packages[@]}"; do
    debs+=("$(ls "$work"/"${p}"_*.deb 2>/dev/null || true)")
done

check "every package named in debian/control was built" \
    bash -c 'for f in "$@"; do [ -s "$f" ] || exit 1; done' _ "${debs[@]}"
[ "$failed" = 0 ] || bail "a package is missing"

run_lintian() {
    local out tag status=0
    out=$(lintian --fail-on error "$work"/vtpm-placement_*.changes 2>&1) || status=$?
    printf '%s\n' "$out"
    [ "$status" = 0 ] || return 1
    # Each warning kept is explained in docs/packaging.md, by its tag.
    for tag in $(printf '%s\n' "$out" | sed -n 's/^W: [^:]*: \([a-z0-9-]*\).*/\1/p' | sort -u); do
        grep -q "\`$tag\`" "$src/docs/packaging.md" || { echo "warning $tag is not in docs/packaging.md"; return 1; }
    done
}
check "lintian: no error, and every warning is explained in docs/packaging.md" run_lintian

# --- install -----------------------------------------------------------------

leftovers >"$work/before.list"
install_packages() {
    installed=1
    apt_get install --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 ||
        { tail -n 30 "$work/install.log"; return 1; }
}
# Not in check's subshell: the exit trap must know that it installed.
n=$((n + 1))
if install_packages; then
    echo "ok $n - apt-get install ./*.deb installs every package"
else
    echo "not ok $n - apt-get install ./*.deb installs every package"
    bail "the packages did not install"
fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "the programs, libraries, units, migrations and example are where Debian looks" bash -c '
    for f in /usr/bin/vtpm-reporter /usr/bin/vtpm-inventory /usr/bin/vtpm-filter \
             /usr/lib/$1/libvtpm-filter.so.0 /usr/lib/$1/libvtpm-inventory.so.0 \
             /usr/lib/$1/libvtpm-filter.so /usr/lib/$1/pkgconfig/vtpm-inventory.pc \
             /lib/systemd/system/vtpm-reporter.service /lib/systemd/system/vtpm-reporter.timer \
             /usr/share/vtpm-placement/migrations/0001_schema.sql \
             /usr/share/doc/vtpm-reporter/examples/reporter.yaml.example \
             /usr/lib/python3/dist-packages/vtpm_placement/nova_filter.py \
             /usr/lib/python3/dist-packages/vtpm_placement/compute.py \
             /usr/lib/python3/dist-packages/nova/virt/vtpm_libvirt.py \
             /usr/share/doc/vtpm-inventory/examples/pgbouncer.ini.example \
             /usr/share/vtpm-placement/prometheus/vtpm-alerts.yml \
             /usr/share/man/man8/vtpm-reporter.8.gz /usr/share/man/man5/reporter.yaml.5.gz \
             /usr/share/man/man8/vtpm-inventory.8.gz /usr/share/man/man1/vtpm-filter.1.gz \
             /var/lib/vtpm-placement /var/cache/vtpm-placement; do
        [ -e "$f" ] || { echo "missing $f"; exit 1; }
    done' _ "$multiarch"
check "the installed migrations are the tree's" bash -c '
    for f in "$1"/sql/migrations/*.sql; do cmp "$f" "/usr/share/vtpm-placement/migrations/${f##*/}" || exit 1; done
    [ "$(ls "$1"/sql/migrations/*.sql | wc -l)" = "$(ls /usr/share/vtpm-placement/migrations | wc -l)" ]' _ "$src"
check "the service runs the installed vtpm-reporter" \
    grep -q '^ExecStart=/usr/bin/vtpm-reporter run' /lib/systemd/system/vtpm-reporter.service
# The Documentation= man page is checked once it is installed.
verify_units() {
    local man=no
    [ -e /usr/share/man/man8/vtpm-reporter.8.gz ] && man=yes
    systemd-analyze verify --man="$man" \
        /lib/systemd/system/vtpm-reporter.service /lib/systemd/system/vtpm-reporter.timer
}
check "systemd-analyze verify accepts the installed units" verify_units
check "the timer is not enabled by the installation" \
    bash -c '! find /etc/systemd/system -name "vtpm-reporter.*" | grep .'

# --- the inventory -------------------------------------------------------------

dsn=$("$src/scripts/pg-cluster.sh" start "$work/pg" | tail -n 1) || bail "the PostgreSQL cluster did not start"
admin_dsn=${dsn/dbname=postgres/dbname=vtpm}
host=vtpm-pkgtest-host
host_uuid=5b0c7e1e-1f0a-4a52-9d49-7d3f4c1f8a01
psql_q() { psql "$admin_dsn" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

check "the database is created" psql "$dsn" -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE vtpm'
check "vtpm-inventory migrate finds the installed migrations without --dir" \
    /usr/bin/vtpm-inventory --dsn "$admin_dsn" migrate
check "only the project's roles may connect to the database" psql_q -c \
    'REVOKE CONNECT, TEMPORARY ON DATABASE vtpm FROM PUBLIC;
     GRANT CONNECT ON DATABASE vtpm TO vtpm_owner, vtpm_reporter, vtpm_reader'
check "a login outside them is refused" bash -c '
    psql "$1" -X -q -c "CREATE ROLE stranger_pkgtest LOGIN" || exit 1
    ! out=$(psql "${1/user=postgres/user=stranger_pkgtest}" -X -c "SELECT 1" 2>&1) &&
    printf "%s\n" "$out" | grep "permission denied for database"' _ "$admin_dsn"
check "vtpm-inventory status lists every installed migration as applied" bash -c '
    out=$(/usr/bin/vtpm-inventory --dsn "$1" status) || exit 1
    printf "%s\n" "$out"
    [ "$(printf "%s\n" "$out" | grep -c applied)" = "$(ls /usr/share/vtpm-placement/migrations | wc -l)" ]' \
    _ "$admin_dsn"
check "vtpm-inventory bind-reporter creates the host's reporter login" \
    /usr/bin/vtpm-inventory --dsn "$admin_dsn" bind-reporter rep_pkgtest "$host" --uuid "$host_uuid"
check "a scheduler login reads the inventory" \
    psql_q -c 'CREATE ROLE sched_pkgtest LOGIN IN ROLE vtpm_reader'
reporter_dsn=${admin_dsn/user=postgres/user=rep_pkgtest}
sched_dsn=${admin_dsn/user=postgres/user=sched_pkgtest}

# --- the reporter --------------------------------------------------------------

need_libvirtd || bail "libvirtd does not answer on qemu:///system (tests/fixtures/libvirtd.sh)"

check "vtpm-reporter probe concludes with the packaged example configuration" \
    /usr/bin/vtpm-reporter probe --config /usr/share/doc/vtpm-reporter/examples/reporter.yaml.example

# docs/deploy.md's minimal reporter.yaml, with this test's host, database and
# private lock and cache.
cat >"$work/reporter.yaml" <<EOF
swtpm_enabled: true
virt_type: kvm
host: $host
provider_uuid: $host_uuid
key_manager:
  backend: barbican
  url: http://127.0.0.1:9311
inventory: postgres
postgres:
  dsn: "$reporter_dsn"
lock_file: $work/reporter.lock
cache_dir: $work/cache
EOF
mkdir -p "$work/cache"
run_status() {  # run_status WANT [OPTION...]: vtpm-reporter run exits WANT
    local status=0 want=$1
    shift
    need_libvirtd || return 1
    /usr/bin/vtpm-reporter run --no-delay --config "$work/reporter.yaml" "$@" || status=$?
    [ "$status" = "$want" ] || { echo "exit status $status, not $want"; return 1; }
}
check "vtpm-reporter run publishes the host (exit 0: changed)" run_status 0
check "vtpm-reporter run again skips within the heartbeat (exit 3, nothing sent)" run_status 3
check "the inventory still holds the first report (last status changed)" bash -c '
    [ "$(psql "$1" -X -At -c "SELECT last_status FROM vtpm.hosts WHERE host = \$\$$2\$\$")" = changed ]' \
    _ "$admin_dsn" "$host"
check "vtpm-reporter run --force publishes and changes nothing (exit 3)" run_status 3 --force
check "the inventory holds the host under its uuid, last reported unchanged" bash -c '
    row=$(psql "$1" -X -At -c "SELECT uuid, last_status, stale FROM vtpm.hosts WHERE host = \$\$$2\$\$")
    echo "$row"
    [ "$row" = "$3|unchanged|f" ]' _ "$admin_dsn" "$host" "$host_uuid"

check "vtpm.host_traits gives an absent trait's reason code, as probe prints it" bash -c '
    code=$(psql "$1" -X -At -c "SELECT reason_code FROM vtpm.host_traits
        WHERE host = \$\$$2\$\$ AND trait = \$\$COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT\$\$")
    echo "$code"
    [ "$code" = secret_security_not_configured ]' _ "$admin_dsn" "$host"

# --- the scheduler side --------------------------------------------------------

request='{"flavor":{"name":"vtpm","extra_specs":{"hw:tpm_version":"2.0","hw:tpm_model":"tpm-tis"}}}'
check "vtpm-filter check accepts a TPM 2.0 request" bash -c '
    out=$(printf "%s\n" "$1" | /usr/bin/vtpm-filter check) && printf "%s\n" "$out" &&
    printf "%s\n" "$out" | grep -q "\"result\":\"accept\""' _ "$request"
check "vtpm-filter candidates lists the published host" bash -c '
    out=$(printf "%s\n" "$1" | /usr/bin/vtpm-filter candidates --dsn "$2") && printf "%s\n" "$out" &&
    printf "%s\n" "$out" | grep -q "$3"' _ "$request" "$sched_dsn" "$host_uuid"

# The examples, built as their comments say, from the -dev packages' copies.
build_example() {  # build_example NAME PKG...
    local name=$1 pkg=$2
    shift 2
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -o "$work/$name" "/usr/share/doc/$pkg/examples/$name.c" \
        $(pkg-config --cflags --libs "$@")
}
check "filter_example builds against libvtpm-filter-dev with pkg-config" \
    build_example filter_example libvtpm-filter-dev vtpm-filter
check "filter_example runs on the installed library and prints what it should" bash -c '
    ldd "$1/filter_example" | grep -Eq "libvtpm-filter.so.0 => (/usr)?/lib/" &&
    "$1/filter_example" | diff -u /usr/share/doc/libvtpm-filter-dev/examples/filter_example.expected -' \
    _ "$work"
check "inventory_example builds against both -dev packages with pkg-config" \
    build_example inventory_example libvtpm-inventory-dev vtpm-filter vtpm-inventory
check "inventory_example finds the published host through the installed libraries" bash -c '
    out=$("$1/inventory_example" "$2" 0) && printf "%s\n" "$out" &&
    printf "%s\n" "$out" | grep -q "$3"' _ "$work" "$sched_dsn" "$host_uuid"

check "/usr/bin/python3 imports the installed vtpm_placement and the Nova filter" bash -c '
    cd / && /usr/bin/python3 -c "
import sys, vtpm_placement, vtpm_placement.nova_filter as nf
from vtpm_placement import bindings
assert vtpm_placement.__file__.startswith(\"/usr/lib/python3/dist-packages/\"), vtpm_placement.__file__
assert hasattr(nf, \"VTPMFilter\")
f = vtpm_placement.Filter(\"legacy\")
inv = vtpm_placement.Inventory(sys.argv[1])
bits = inv.lookup(bindings.uuid_struct(sys.argv[2]))
assert bits is not None, \"host not in the inventory\"
names = f.trait_names(bits)
print(names)
assert \"COMPUTE_SECURITY_TPM_2_0\" in names, names
" "$1" "$2"' _ "$sched_dsn" "$host_uuid"

# --- the build tree is not affected ----------------------------------------------

if [ -n "$build" ] && [ -x "$build/examples/filter_example" ]; then
    check "the build's programs still load the build's libvtpm-filter, not /usr/lib's" bash -c '
        ldd "$1/examples/filter_example" | grep "libvtpm-filter.so.0 => $1/"' _ "$build"
fi
check "the source tree's vtpm_placement wins over the installed one on PYTHONPATH" bash -c '
    PYTHONPATH=$1/scheduler/nova /usr/bin/python3 -c "
import sys, vtpm_placement
sys.exit(not vtpm_placement.__file__.startswith(sys.argv[1]))" "$1"' _ "$src"

# --- upgrade -------------------------------------------------------------------------

# The same tree as a newer version: what the admin changed and what the
# reporter wrote survive, and the programs go on working on the same database.
upgrade_version=0.1.0+upgradetest1
build_upgrade() {
    local trailer
    trailer=$(grep -m 1 '^ -- ' "$work/src/debian/changelog" | sed 's/>  .*/>/')
    { printf 'vtpm-placement (%s) unstable; urgency=medium\n\n  * Upgrade test.\n\n%s  %s\n\n' \
        "$upgrade_version" "$trailer" "$(date -R)"
      cat "$work/src/debian/changelog"; } >"$work/changelog.new"
    mv "$work/changelog.new" "$work/src/debian/changelog"
    (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
        dpkg-buildpackage -us -uc -b) >"$work/build-upgrade.log" 2>&1 ||
        { tail -n 40 "$work/build-upgrade.log"; return 1; }
}
upgrade_packages() {
    local p new=()
    echo '# changed by the admin' >>/etc/default/vtpm-reporter
    for p in "${packages[@]}"; do new+=("$(ls "$work"/"${p}_${upgrade_version}"_*.deb)"); done
    apt_get install --no-install-recommends "${new[@]}" >"$work/upgrade.log" 2>&1 ||
        { tail -n 30 "$work/upgrade.log"; return 1; }
    for p in "${packages[@]}"; do
        [ "$(dpkg-query -W -f='${Version}' "$p")" = "$upgrade_version" ] || { echo "$p not upgraded"; return 1; }
    done
}
check "a newer version of the packages builds" build_upgrade
check "apt-get install of the newer version upgrades every package" upgrade_packages
check "the upgrade keeps the admin's change to a conffile, without asking" \
    grep -qx '# changed by the admin' /etc/default/vtpm-reporter
check "the upgrade keeps what the reporter wrote (swtpm's cached capabilities)" \
    test -s /var/cache/vtpm-placement/swtpm-capabilities.json
after_upgrade() {
    /usr/bin/vtpm-inventory --dsn "$admin_dsn" migrate && run_status 3
}
check "after the upgrade, migrate has nothing to do and the reporter publishes" after_upgrade

# --- remove, purge -----------------------------------------------------------------

for p in "${packages[@]}"; do dpkg -L "$p"; done | sort -u >"$work/files.list"
dpkg-query -W -f='${Conffiles}\n' "${packages[@]}" | awk 'NF {print $1}' | sort -u >"$work/conffiles.list"
stop_libvirtd

only_conffiles_left() {
    apt_get remove "${packages[@]}" >"$work/remove.log" 2>&1 || { tail -n 20 "$work/remove.log"; return 1; }
    local f bad=0
    while read -r f; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        [ -d "$f" ] && continue  # folders, and /lib, a link to one
        grep -qxF "$f" "$work/conffiles.list" || { echo "left after remove: $f"; bad=1; }
    done <"$work/files.list"
    [ -s "$work/conffiles.list" ] && while read -r f; do
        [ -e "$f" ] || { echo "conffile removed by remove: $f"; bad=1; }
    done <"$work/conffiles.list"
    return "$bad"
}
check "apt-get remove leaves only the conffiles" only_conffiles_left

nothing_left() {
    # apt-get knows packages from ./*.deb only while they are installed.
    dpkg --purge "${packages[@]}" >"$work/purge.log" 2>&1 || { tail -n 20 "$work/purge.log"; return 1; }
    local p
    for p in "${packages[@]}"; do
        if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
            echo "still known to dpkg: $p"
            return 1
        fi
    done
    leftovers | diff -u "$work/before.list" -
}
check "dpkg --purge then leaves nothing behind (state, cache, conffiles included)" nothing_left

echo "1..$n"
exit "$failed"
