#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints every question of sql/demo/admin_questions.sql with its query and the
# answer from the inventory at DSN, as Markdown (the README's admin section).
#
#   scripts/admin-questions.sh DSN
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${1:?usage: $0 DSN}

n=0
question=
while IFS= read -r line; do
    case "$line" in
    "-- Q: "*)
        question=${line#-- Q: }
        ;;
    "SELECT"*|"WITH"*)
        [ -n "$question" ] || continue
        n=$((n + 1))
        printf '### %d. %s\n\n```sql\n%s\n```\n\n```\n' "$n" "$question" "$line"
        psql "$dsn" -X -v ON_ERROR_STOP=1 -P pager=off -c "$line"
        printf '```\n\n'
        question=
        ;;
    esac
done < sql/demo/admin_questions.sql
