/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a migration's SQL as the server will: statements, comments, quotes. */
#ifndef VTPM_SQL_SCAN_H
#define VTPM_SQL_SCAN_H

#include <stddef.h>

/*
 * Looks through the @len bytes of @sql for a statement that controls the
 * transaction (BEGIN, START, COMMIT, END, ROLLBACK, ABORT, PREPARE
 * TRANSACTION), which would end the migration's own transaction part-way and
 * leave the rest applied without its record. Comments, string literals
 * (standard, E'' escapes, dollar quotes) and quoted identifiers are skipped
 * as PostgreSQL's lexer skips them; words inside a function body are not
 * statements of the file. Returns 0 when there is none, or the 1-based line
 * of the first one, with its keyword in @word (@size bytes).
 */
unsigned int vtpm_sql_find_transaction_control(const char *sql, size_t len, char *word,
                                               size_t size);

#endif /* VTPM_SQL_SCAN_H */
