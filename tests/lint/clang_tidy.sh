#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs clang-tidy (the source root's .clang-tidy) over the project's C sources in a build's compile_commands.json; any finding fails.
set -uo pipefail
build=${1:?usage: clang_tidy.sh BUILD_ROOT SOURCE_ROOT}
root=${2:?usage: clang_tidy.sh BUILD_ROOT SOURCE_ROOT}

echo "1..1"
not_ok() {
    echo "# $1"
    echo "not ok 1 - clang-tidy finds nothing"
    exit 1
}
for tool in run-clang-tidy clang-tidy; do
    command -v "$tool" >/dev/null ||
        not_ok "'$tool' not found: apt-get install clang-tidy (scripts/setup.sh)"
done
[ -f "$build/compile_commands.json" ] || not_ok "no compile_commands.json in '$build'"

# The folders the lint job covers, under this source root only (run-clang-tidy
# matches the regex against absolute paths).
root=$(cd "$root" 2>/dev/null && pwd -P) || not_ok "no source root '$2'"
root_re=$(printf '%s' "$root" | sed 's/[][\.*^$+?(){}|]/\\&/g')
files="^$root_re/(common|scheduler|reporter|sql|tests|bench|examples)/"

start=$SECONDS
out=$(run-clang-tidy -p "$build" -quiet "$files" 2>&1)
rc=$?
findings=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -E ': (error|warning): ' | sort -u)
checked=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -c '^clang-tidy')
echo "# clang-tidy checked $checked files in $((SECONDS - start)) s"
[ "$checked" -gt 0 ] || not_ok "no file of '$root' in '$build/compile_commands.json'"
if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
    printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g; s/^/# /'
    not_ok "run-clang-tidy exited $rc with $(printf '%s' "$findings" | grep -c .) finding(s)"
fi
echo "ok 1 - clang-tidy finds nothing in common/ scheduler/ reporter/ sql/ tests/ bench/ examples/"
