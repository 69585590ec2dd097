#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# debian/ agrees with the build: the version, and each library's symbols and soname.
#
# debian/changelog's newest version is the project's (a native package: the
# version is the changelog's). debian/*.symbols lists exactly each library's
# version script, under the library's soname. The package build fails on a
# symbols difference too (dpkg-gensymbols -c4), but only where packages are
# built as root; this catches it in every build: a symbol added to or removed
# from a .map file, a version node renamed, or a soname changed without the
# package's name (libvtpm-filter0 for libvtpm-filter.so.0).
#
#   debian.sh SOURCE_ROOT PROJECT_VERSION LIBRARY.so...   (the built shared libraries)
# Prints TAP.
set -euo pipefail

src=$1
project_version=$2
shift 2
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; printf '%s\n' "$2" | sed 's/^/# /'; failed=1; }

# The first line: "vtpm-placement (VERSION) DISTRIBUTION; urgency=..."
deb_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
if [ "$deb_version" = "$project_version" ]; then
    ok "debian/changelog's version is the project's ($project_version)"
else
    not_ok "debian/changelog's version is the project's ($project_version)" \
        "debian/changelog says '$deb_version': add an entry for $project_version at its top"
fi

map_symbols() {  # NODE@NAME for every global name of version script $1
    awk '
        /^[A-Z0-9_.]+ *\{/ { node = $1; sub(/ *\{.*/, "", node); next }
        /global:/ { global = 1; next }
        /local:/ { global = 0; next }
        /^\}/ { global = 0; next }
        global && /;/ { name = $1; sub(/;.*/, "", name); print name "@" node; print node "@" node }
    ' "$1" | sort -u
}

file_symbols() {  # NAME@NODE of every symbol of debian symbols file $1
    sed -n 's/^ \([^ ]*\) .*/\1/p' "$1" | sort -u
}

for lib in "$@"; do
    base=$(basename "$lib")
    base=${base%%.so*}                     # libvtpm-filter
    soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
    version=${soname##*.so.}
    package=$base$version                  # libvtpm-filter0
    symbols=$src/debian/$package.symbols
    map=$(find "$src/scheduler" -name "$base.map" | head -n 1)

    if [ ! -f "$symbols" ]; then
        not_ok "$soname has debian/$package.symbols" "missing: a new soname needs a new package name and symbols file"
        continue
    fi
    ok "$soname has debian/$package.symbols"

    head=$(head -n 1 "$symbols")
    if [ "$head" = "$soname $package #MINVER#" ]; then
        ok "debian/$package.symbols is for $soname"
    else
        not_ok "debian/$package.symbols is for $soname" "first line: $head"
    fi

    # Both sides as NAME@NODE (the node itself is listed as NODE@NODE).
    diff_out=$(diff -u <(map_symbols "$map") <(file_symbols "$symbols")) || true
    if [ -z "$diff_out" ]; then
        ok "debian/$package.symbols lists exactly ${map#"$src"/}"
    else
        not_ok "debian/$package.symbols lists exactly ${map#"$src"/}" \
            "$diff_out
(- only in the version script, + only in the symbols file; see docs/packaging.md)"
    fi
done

echo "1..$n"
exit "$failed"
