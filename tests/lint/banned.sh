#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when C sources use functions the project bans: unbounded string
# functions, non-reentrant ones, and anything that runs a shell.
set -euo pipefail
root=${1:?usage: banned.sh SOURCE_ROOT}
cd "$root"

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|system|popen|tmpnam|mktemp|asctime|ctime|localtime|gmtime|getpwnam|getgrnam|readdir_r|atoi|atol)[[:space:]]*\('
hits=$(grep -rnE "$banned" --include='*.c' --include='*.h' \
        common scheduler reporter sql include examples bench 2>/dev/null \
        | grep -v '/\* banned-ok' || true)
if [ -n "$hits" ]; then
    echo "banned functions used (use the bounded or reentrant form):"
    echo "$hits"
    echo "1..1"
    echo "not ok 1 - no banned functions"
    exit 1
fi
echo "1..1"
echo "ok 1 - no banned functions in C sources"
