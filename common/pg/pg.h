/* SPDX-License-Identifier: Apache-2.0 */
/* libpq helpers shared by the inventory tool and the reporter's publisher. */
#ifndef VTPM_COMMON_PG_H
#define VTPM_COMMON_PG_H

#include <stddef.h>

#include <libpq-fe.h>

/*
 * Describes where @conn points, "database 'vtpm' on '/run/postgresql:5432'",
 * into @buf; never the user or password. @conn may be NULL. Returns @buf.
 */
char *vtpm_pgconn_describe(const PGconn *conn, char *buf, size_t size);

/*
 * The server's primary message for @res, else the result's or the
 * connection's error text (of a FATAL, its first line only), on one line in
 * @buf. @res and @conn may be NULL. Returns @buf.
 */
const char *vtpm_pg_message(const PGresult *res, const PGconn *conn, char *buf,
                            size_t size);

/*
 * Whether libpq can parse @dsn (NULL is ""): 0 when it can, -1 when it
 * cannot, -2 when out of memory. libpq's message (it may quote a password)
 * is not kept, and the parsed values are wiped before they are freed.
 */
int vtpm_pg_dsn_check(const char *dsn);

#endif /* VTPM_COMMON_PG_H */
