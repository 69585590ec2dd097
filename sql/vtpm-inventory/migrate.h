/* SPDX-License-Identifier: Apache-2.0 */
/* Forward-only schema migrations of the inventory, and reporter logins. */
#ifndef VTPM_SQL_MIGRATE_H
#define VTPM_SQL_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* Advisory lock key held while migrating ("vtpm" in ASCII). */
#define VTPM_MIGRATE_LOCK_KEY 0x7674706dLL

typedef enum {
    VTPM_MIGRATION_PENDING = 0,   /* in the folder, not applied */
    VTPM_MIGRATION_APPLIED = 1,   /* applied, file unchanged */
    VTPM_MIGRATION_EDITED = 2,    /* applied, but the file changed since */
    VTPM_MIGRATION_MISSING = 3    /* applied, but no such file in the folder */
} vtpm_migration_state;

typedef struct {
    int version;                  /* the leading number: 0001_x.sql is 1 */
    char name[256];               /* file name, "0001_schema.sql" */
    char checksum[65];            /* sha256 of the file, hex; "" if missing */
    char applied_checksum[65];    /* as recorded when applied; "" if pending */
    char applied_at[64];          /* "" if pending */
    vtpm_migration_state state;
} vtpm_migration;

typedef struct {
    vtpm_migration *items;        /* ordered by version */
    size_t n;
} vtpm_migration_list;

/* Frees the items of @list (not @list itself); NULL-safe. */
void vtpm_migration_list_clear(vtpm_migration_list *list);

/*
 * Lists the migration files of @dir (names NNNN_word.sql; other files are
 * ignored) and, when @conn is not NULL, compares them with what the database
 * recorded. Fills @list (cleared first). On error returns -1, leaves @list
 * empty and writes one line into @err (@errlen bytes).
 */
int vtpm_migrate_status(PGconn *conn, const char *dir, vtpm_migration_list *list,
                        char *err, size_t errlen);

/*
 * Applies every pending migration of @dir in version order, each in its own
 * transaction, under a session advisory lock so that concurrent runs apply
 * each file once. Refuses to apply anything when an applied file was edited
 * or is missing. Sets *@applied to the number applied (0: already current).
 * Returns 0, or -1 with one line in @err.
 */
int vtpm_migrate_apply(PGconn *conn, const char *dir, unsigned int *applied,
                       char *err, size_t errlen);

/*
 * Creates login @login if needed, grants it vtpm_reporter and binds it to
 * @host (vtpm.bind_reporter()). @password may be NULL. @uuid, when not
 * NULL, is @host's provider UUID: the provider is created with it (a reporter
 * login cannot choose one). Sets *@created to whether the binding is new.
 * Returns 0, or -1 with one line in @err.
 */
int vtpm_reporter_bind(PGconn *conn, const char *login, const char *host,
                       const char *password, const char *uuid, bool *created, char *err,
                       size_t errlen);

#endif /* VTPM_SQL_MIGRATE_H */
