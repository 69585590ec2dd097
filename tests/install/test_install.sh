#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `meson install` into a scratch root, then what a packager and a library user rely on there.
#
# Checks that the programs, the migrations, the systemd units (the cron line
# only with -Dcron) and both libraries with their headers and pkg-config files
# are installed, builds the examples against the installed interface with
# pkg-config (as their comments say), runs filter_example and compares its
# output, and runs inventory_example without arguments (it needs a database to
# do more; tests/sql runs it against one). What this build left out
# (VTPM_TEST_HAVE_REPORTER, _INVENTORY: 0) must not be installed. Prints TAP.
set -euo pipefail

build=${VTPM_BUILD_ROOT:?}
src=${VTPM_SOURCE_ROOT:?}
root=$(mktemp -d /tmp/vtpm-install-XXXXXX)
trap 'rm -rf "$root"' EXIT

# shellcheck source=tap.sh
. "$src/tests/install/tap.sh"

option() {  # the value of meson option $1 in the build
    meson introspect "$build" --buildoptions |
        /usr/bin/python3 -c "import json, sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'))"
}

meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
prefix=$(option prefix)
libdir=$root$prefix/$(option libdir)
sanitize=$(option b_sanitize)
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
[ "$sanitize" = none ] || cflags+=("-fsanitize=$sanitize")
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root

have_reporter=${VTPM_TEST_HAVE_REPORTER:-1}
have_inventory=${VTPM_TEST_HAVE_INVENTORY:-1}
have_cron=${VTPM_TEST_HAVE_CRON:-0}
have_man=${VTPM_TEST_HAVE_MAN:-0}

installed() { for f in "$@"; do [ -e "$root$prefix/$f" ] || { echo "missing $prefix/$f"; return 1; }; done; }
absent() { for f in "$@"; do [ ! -e "$root$prefix/$f" ] || { echo "unexpected $prefix/$f"; return 1; }; done; }
check "vtpm-filter is installed" installed bin/vtpm-filter
if [ "$have_inventory" = 1 ]; then
    check "vtpm-inventory is installed" installed bin/vtpm-inventory
else
    check "without libpq, neither vtpm-inventory nor libvtpm-inventory is installed" \
        absent bin/vtpm-inventory include/vtpm/inventory.h
fi
check "every migration is installed" bash -c '
    for f in "$1"/sql/migrations/*.sql; do
        cmp "$f" "$2/share/vtpm-placement/migrations/${f##*/}" || exit 1
    done' _ "$src" "$root$prefix"
if [ "$have_reporter" = 1 ]; then
    check "vtpm-reporter is installed" installed bin/vtpm-reporter
    check "the systemd units are installed" bash -c '
        find "$1" -name vtpm-reporter.service | grep -q . && find "$1" -name vtpm-reporter.timer | grep -q .' _ "$root"
    if [ "$have_cron" = 1 ]; then
        check "the cron line is installed (-Dcron)" bash -c '
            find "$1" -path "*/cron.d/vtpm-reporter" | grep -q .' _ "$root"
    else
        check "the cron line is not installed (-Dcron)" bash -c '
            ! find "$1" -path "*/cron.d/*" | grep .' _ "$root"
    fi
    check "the installed units and cron line run the installed vtpm-reporter" bash -c '
        for f in $(find "$1" -name vtpm-reporter.service -o -path "*/cron.d/vtpm-reporter"); do
            grep -q "$2/bin/vtpm-reporter run" "$f" || { echo "$f does not run $2/bin/vtpm-reporter run"; exit 1; }
        done' _ "$root" "$prefix"
else
    check "without the reporter, neither vtpm-reporter nor its units are installed" bash -c '
        [ ! -e "$1$2/bin/vtpm-reporter" ] && ! find "$1" -name "vtpm-reporter.*" | grep .' _ "$root" "$prefix"
fi
check "the sample alerting rules are installed" installed share/vtpm-placement/prometheus/vtpm-alerts.yml
if [ "$have_man" = 1 ]; then
    mandir=$(option mandir)
    check "vtpm-filter(1) is installed" installed "$mandir/man1/vtpm-filter.1"
    if [ "$have_inventory" = 1 ]; then
        check "vtpm-inventory(8) is installed" installed "$mandir/man8/vtpm-inventory.8"
    fi
    if [ "$have_reporter" = 1 ]; then
        check "vtpm-reporter(8) and reporter.yaml(5) are installed" \
            installed "$mandir/man8/vtpm-reporter.8" "$mandir/man5/reporter.yaml.5"
        check "the installed pages name the installed configuration file" bash -c '
            MANWIDTH=200 man -l "$1/man5/reporter.yaml.5" | grep -qF "$2/vtpm-placement/reporter.yaml"' \
            _ "$root$prefix/$mandir" "$prefix/$(option sysconfdir)"
    fi
fi
check "libvtpm-filter's headers are installed" installed include/vtpm/filter.h include/vtpm/traits.h
check "pkg-config knows vtpm-filter" pkg-config --exists vtpm-filter
if [ "$have_inventory" = 1 ]; then
    check "libvtpm-inventory's header is installed" installed include/vtpm/inventory.h
    check "pkg-config knows vtpm-inventory" pkg-config --exists vtpm-inventory
fi

build_example() {  # build_example NAME PKG...
    local name=$1
    shift
    # shellcheck disable=SC2046
    cc "${cflags[@]}" -o "$root/$name" "$src/examples/$name.c" $(pkg-config --cflags --libs "$@")
}
check "filter_example builds against the installed vtpm-filter" build_example filter_example vtpm-filter
check "filter_example prints what its .expected file says" bash -c '
    LD_LIBRARY_PATH=$1 "$2/filter_example" | diff -u "$3/examples/filter_example.expected" -' \
    _ "$libdir" "$root" "$src"
if [ "$have_inventory" = 1 ]; then
    check "inventory_example builds against the installed vtpm-filter and vtpm-inventory" \
        build_example inventory_example vtpm-filter vtpm-inventory
    check "inventory_example loads the installed libraries and asks for a DSN" bash -c '
        status=0
        env -u VTPM_DSN LD_LIBRARY_PATH=$1 "$2/inventory_example" 2>"$2/err" || status=$?
        [ "$status" = 2 ] && grep -q "usage: inventory_example DSN" "$2/err"' _ "$libdir" "$root"
fi
if [ "${VTPM_TEST_HAVE_NOVA:-0}" = 1 ]; then
    check "the vtpm_placement package is installed in a folder of /usr/bin/python3's sys.path" \
        bash -c '
        f=$(find "$1" -path "*/vtpm_placement/nova_filter.py" | head -n 1)
        [ -n "$f" ] || exit 1
        dir=${f%/vtpm_placement/nova_filter.py}
        /usr/bin/python3 -c "import sys; sys.exit(sys.argv[1] not in sys.path)" "${dir#"$1"}"' _ "$root"
    # Debian's package builds with prefix /usr, where meson names the folder
    # with a trailing '/' that sys.path's entries do not have.
    check "for prefix /usr the vtpm_placement package goes to /usr/lib/python3/dist-packages" bash -c '
        [ "$(/usr/bin/python3 "$1/scheduler/nova/site_dir.py" /usr /usr/lib/python3/dist-packages/)" = \
          /usr/lib/python3/dist-packages ]' _ "$src"
    # The package loads its libraries by soname, as on a scheduler host. A
    # sanitized library cannot load in Python without its runtime: import only.
    check "the installed vtpm_placement loads the installed libvtpm-filter by soname" bash -c '
        pkg=$(dirname "$(find "$1" -path "*/vtpm_placement/__init__.py" | head -n 1)")
        code="import vtpm_placement as v; print(v.FILTER_SONAME)"
        [ "$3" = none ] && code="import vtpm_placement as v; print(v.Filter(\"legacy\").profile)"
        PYTHONPATH=${pkg%/*} LD_LIBRARY_PATH=$2 /usr/bin/python3 -c "$code" >/dev/null' \
        _ "$root" "$libdir" "$sanitize"
    # [DEFAULT] compute_driver = vtpm_libvirt.VTPMLibvirtDriver: Nova imports
    # "nova.virt." + the value, so the module sits in Nova's own folder
    # (installed only where python3-nova is).
    /usr/bin/python3 -c "import nova.virt" 2>/dev/null && check "compute_driver vtpm_libvirt.VTPMLibvirtDriver resolves as Nova resolves it" bash -c '
        virt=$(/usr/bin/python3 -c "import os, nova.virt; print(os.path.dirname(nova.virt.__file__))")
        [ -f "$1$virt/vtpm_libvirt.py" ] || exit 1
        pkg=$(dirname "$(find "$1" -path "*/vtpm_placement/compute.py" | head -n 1)")
        PYTHONPATH=${pkg%/*} /usr/bin/python3 -c "
import sys, nova.virt
nova.virt.__path__.insert(0, sys.argv[1])
from oslo_utils import importutils
cls = importutils.import_class(\"nova.virt.vtpm_libvirt.VTPMLibvirtDriver\")
from nova.virt.libvirt.driver import LibvirtDriver
sys.exit(not issubclass(cls, LibvirtDriver))" "$1$virt"' _ "$root"
fi

echo "1..$n"
exit "$failed"
