#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages say what the programs do: each program's --help options, commands and exit
# codes are those of its page (both ways), reporter.yaml(5)'s keys are the reporter's key
# table, and the built pages render without a groff warning. Then the same comparison on
# mutated copies must fail, or it would check nothing.
#
# usage: man_pages.sh [--program NAME EXE PAGE.scd]... [--keys CONF_KEYS_EXE PAGE.scd]
#                     [--built PAGE]...
#
# What is read from a page (docs/man/*.scd), so that documenting an option is adding its line:
#   options: definition lines starting with *-, e.g. "*-c*, *--config* _FILE_"
#   commands: lines starting with *word* under "# COMMANDS"
#   exit codes: lines starting with *N* under "# EXIT STATUS"
#   keys (reporter.yaml): lines that are *key* or *mapping.key* alone
# and from --help: every --long option anywhere, "  -x," short options, the lines of the
# "Commands:" list that start with two spaces and a word, the codes under "Exit status:".
set -uo pipefail

help_longs() { grep -oE -- '--[a-z][a-z0-9-]*' "$1" | sort -u; }
help_shorts() { grep -oE '^ +-[A-Za-z],' "$1" | tr -d ' ,' | sort -u; }
help_commands() {
    awk 'tolower($0) ~ /^commands:$/ { f = 1; next } f && /^$/ { f = 0 }
         f && /^  [a-z]/ { print $1 }' "$1" | sort -u
}
help_exits() {
    awk '/^Exit status:$/ { f = 1; next } f && /^[^ ]/ { f = 0 }
         f && /^  [0-9]+  / { print $1 }' "$1" | sort -u
}
man_longs() { grep -E '^\*-' "$1" | grep -oE -- '\*--[a-z][a-z0-9-]*\*' | tr -d '*' | sort -u; }
man_shorts() { grep -E '^\*-' "$1" | grep -oE -- '\*-[A-Za-z]\*' | tr -d '*' | sort -u; }
man_section() {  # PAGE TITLE: the lines of section "# TITLE"
    awk -v t="# $2" '/^# / { f = ($0 == t); next } f' "$1"
}
man_commands() {
    man_section "$1" COMMANDS | grep -E '^\*[a-z]' | sed -E 's/^\*([a-z][a-z-]*)\*.*/\1/' | sort -u
}
man_exits() { man_section "$1" "EXIT STATUS" | grep -oE '^\*[0-9]+\*$' | tr -d '*' | sort -u; }
man_keys() { grep -oE '^\*[a-z_]+(\.[a-z_]+)?\*$' "$1" | tr -d '*' | sort -u; }

# compare WHAT HELP-LIST MAN-LIST: prints the differences, returns 1 if any.
compare() {
    local what=$1 only_help only_man
    only_help=$(comm -23 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d'))
    only_man=$(comm -13 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d'))
    [ -n "$only_help" ] && printf '%s missing from the man page: %s\n' "$what" "$only_help" | tr '\n' ' ' && echo
    [ -n "$only_man" ] && printf '%s in the man page only: %s\n' "$what" "$only_man" | tr '\n' ' ' && echo
    [ -z "$only_help$only_man" ]
}

# check_program HELP-FILE PAGE: 0 when they agree, else the differences on stdout.
check_program() {
    local rc=0
    compare "option" "$(help_longs "$1")" "$(man_longs "$2")" || rc=1
    compare "short option" "$(help_shorts "$1")" "$(man_shorts "$2")" || rc=1
    compare "command" "$(help_commands "$1")" "$(man_commands "$2")" || rc=1
    compare "exit status" "$(help_exits "$1")" "$(man_exits "$2")" || rc=1
    # an empty list on both sides would agree on nothing
    [ -n "$(man_longs "$2")" ] && [ -n "$(man_exits "$2")" ] || { echo "nothing read from $2"; rc=1; }
    return $rc
}

check_keys() {
    compare "key" "$(sort -u "$1")" "$(man_keys "$2")" && [ -n "$(man_keys "$2")" ]
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
tap() {  # DESCRIPTION OUTPUT STATUS
    n=$((n + 1))
    if [ "$3" = 0 ]; then
        echo "ok $n - $1"
    else
        printf '%s\n' "$2" | sed '/^$/d; s/^/# /'
        echo "not ok $n - $1"
        failed=1
    fi
}
# must_fail DESCRIPTION COMMAND...: the check is expected to find the mutation.
must_fail() {
    local what=$1 out
    shift
    if out=$("$@"); then
        tap "$what" "the check passed on a mutated copy" 1
    else
        tap "$what" "" 0
    fi
}

programs=() keys=() built=()
while [ $# -gt 0 ]; do
    case $1 in
    --program) programs+=("$2|$3|$4"); shift 4 ;;
    --keys) keys+=("$2|$3"); shift 3 ;;
    --built) built+=("$2"); shift 2 ;;
    *) echo "usage: man_pages.sh [--program NAME EXE PAGE]... [--keys EXE PAGE] [--built PAGE]..." >&2; exit 2 ;;
    esac
done

for p in "${programs[@]}"; do
    IFS='|' read -r name exe page <<<"$p"
    help=$tmp/$name.help
    if ! "$exe" --help >"$help" 2>&1; then
        tap "$name --help runs" "$(cat "$help")" 1
        continue
    fi
    out=$(check_program "$help" "$page")
    rc=$?   # before the next command substitution: $(basename) would reset $?
    tap "$name: --help and $(basename "$page") list the same options, commands and exit codes" "$out" $rc

    # Mutations: an option only in --help, an option line dropped from the page, an exit code
    # only in the page. Each must be found.
    { cat "$help"; echo "  --no-such-option  x"; } >"$tmp/m1"
    must_fail "$name: an option missing from the page is found" check_program "$tmp/m1" "$page"
    awk '!d && /^\*-.*\*--/ { d = 1; next } 1' "$page" >"$tmp/m2.scd"
    must_fail "$name: an option missing from --help is found" check_program "$help" "$tmp/m2.scd"
    awk '{ print } /^# EXIT STATUS$/ { print ""; print "*99*"; print "\tnot a code" }' "$page" >"$tmp/m3.scd"
    must_fail "$name: an exit code only in the page is found" check_program "$help" "$tmp/m3.scd"
done

for k in "${keys[@]}"; do
    IFS='|' read -r exe page <<<"$k"
    "$exe" >"$tmp/keys"
    out=$(check_keys "$tmp/keys" "$page")
    rc=$?
    tap "$(basename "$page") documents every configuration key, and no other" "$out" $rc
    { cat "$tmp/keys"; echo "no_such_key"; } >"$tmp/k1"
    must_fail "a key missing from $(basename "$page") is found" check_keys "$tmp/k1" "$page"
    grep -v '^\*retries\*$' "$page" >"$tmp/k2.scd"
    must_fail "a key only in the table is found" check_keys "$tmp/keys" "$tmp/k2.scd"
done

for page in "${built[@]}"; do
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
          "$page" 2>&1 >/dev/null)
    [ -z "$out" ]
    tap "$(basename "$page") renders without a groff warning" "$out" $?
done

echo "1..$n"
exit $failed
