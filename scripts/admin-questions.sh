#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints every question of sql/demo/admin_questions.sql with its query and the
# answer from the inventory at DSN, as Markdown. docs/admin-sql.md is this
# script's output after scripts/demo.sh:
#
#   scripts/admin-questions.sh DSN > docs/admin-sql.md
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${1:?usage: $0 DSN}

cat <<'HEADER'
# Admin SQL

Questions admins ask of the inventory, as plain SQL for a `vtpm_reader` login. This page is
generated: the questions and queries come from `sql/demo/admin_questions.sql`, the answers from
the inventory `scripts/demo.sh` fills (`vm`-like names are the machine the demo ran on, probed for
real; the `sample-*` hosts are published by `sql/demo/sample_hosts.sql` through the same
`vtpm.publish()`). To change a question, edit the SQL file and regenerate after a demo run:

```sh
scripts/demo.sh
scripts/admin-questions.sh "$(scripts/pg-cluster.sh dsn "$PWD/.vtpm-demo/pg")" > docs/admin-sql.md
```

HEADER

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
        printf '## %d. %s\n\n```sql\n%s\n```\n\n```\n' "$n" "$question" "$line"
        psql "$dsn" -X -v ON_ERROR_STOP=1 -P pager=off -c "$line"
        printf '```\n\n'
        question=
        ;;
    esac
done < sql/demo/admin_questions.sql
