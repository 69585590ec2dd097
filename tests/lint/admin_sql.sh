#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/admin-sql.md asks exactly the questions of sql/demo/admin_questions.sql, in order, with the same queries.
set -uo pipefail
root=${1:?usage: admin_sql.sh SOURCE_ROOT}
sql=$root/sql/demo/admin_questions.sql
doc=$root/docs/admin-sql.md

echo "1..1"
# "question<TAB>query" per question, from each side.
from_sql=$(awk '/^-- Q: /{q=substr($0, 7); next} /^(SELECT|WITH)/{if (q != "") print q "\t" $0; q=""}' "$sql")
from_doc=$(awk '/^## [0-9]+\. /{sub(/^## [0-9]+\. /, ""); q=$0; next}
                /^```sql$/{insql=1; next}
                insql{print q "\t" $0; insql=0}' "$doc")
if [ -z "$from_sql" ]; then
    echo "# no question in $sql"
    echo "not ok 1 - admin questions"
    exit 1
fi
if [ "$from_sql" != "$from_doc" ]; then
    diff <(printf '%s\n' "$from_sql") <(printf '%s\n' "$from_doc") | sed 's/^/# /'
    echo "# docs/admin-sql.md is out of date: regenerate it with scripts/admin-questions.sh (see its header)"
    echo "not ok 1 - admin questions"
    exit 1
fi
echo "ok 1 - docs/admin-sql.md asks the $(printf '%s\n' "$from_sql" | wc -l) questions of sql/demo/admin_questions.sql"
