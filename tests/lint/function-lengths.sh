#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when a C function in the programs or libraries is longer than the
# house limit: a long function hides its steps, so it is split into named ones.
# Tests and benchmarks are not checked: their table-driven cases may run long.
set -euo pipefail
root=${1:?usage: function-lengths.sh SOURCE_ROOT [MAX_LINES]}
max=${2:-80}
cd "$root"

if ! command -v ctags >/dev/null || ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
    echo "1..0 # SKIP universal-ctags is not installed (scripts/setup.sh installs it)"
    exit 0
fi

# One line per function: "LINES file:line name", longest first.
long=$(ctags --languages=C --kinds-C=f --fields=+ne -R -o - \
            common scheduler reporter sql examples 2>/dev/null \
        | awk -F'\t' -v max="$max" '{
              start = ""; end = ""
              for (i = 4; i <= NF; i++) {
                  if ($i ~ /^line:/) start = substr($i, 6)
                  if ($i ~ /^end:/) end = substr($i, 5)
              }
              if (start != "" && end != "" && end - start + 1 > max)
                  printf "%d %s:%s %s\n", end - start + 1, $2, start, $1
          }' | sort -rn)
echo "1..1"
if [ -n "$long" ]; then
    echo "# functions longer than $max lines (split them into named steps):"
    echo "$long" | sed 's/^/# /'
    echo "not ok 1 - no C function longer than $max lines"
    exit 1
fi
echo "ok 1 - no C function longer than $max lines"
