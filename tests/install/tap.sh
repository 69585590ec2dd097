# SPDX-License-Identifier: Apache-2.0
# TAP for the install suite's scripts (sourced): check runs one command as one test.
n=0
failed=0
check() {  # check DESCRIPTION COMMAND...: its output, last lines, as comments when it fails
    local what=$1
    shift
    n=$((n + 1))
    if out=$("$@" 2>&1); then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/# /'
        failed=1
    fi
}
