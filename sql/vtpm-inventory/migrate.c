/* SPDX-License-Identifier: Apache-2.0 */
/* Applies the numbered migration files of a folder, once each, with checksums. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "file.h"
#include "migrate.h"
#include "pg.h"
#include "sql_scan.h"
#include "util.h"

#define OID_BYTEA 17
#define MAX_MIGRATION_BYTES (4 * 1024 * 1024)

static const char create_meta_sql[] =
    "CREATE SCHEMA IF NOT EXISTS vtpm_meta;"
    "CREATE TABLE IF NOT EXISTS vtpm_meta.migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " applied_by text NOT NULL DEFAULT session_user)";

/* Runs @sql (no parameters) and expects a command or tuples result. */
static int
exec_simple(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    char msg[512];

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        vtpm_strfmt(err, errlen, "%s", vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

void
vtpm_migration_list_clear(vtpm_migration_list *list)
{
    if (!list)
        return;
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static vtpm_migration *
list_add(vtpm_migration_list *list)
{
    vtpm_migration *items = vtpm_alloc_realloc(list->items, (list->n + 1) * sizeof(*items));

    list->items = items;
    memset(&items[list->n], 0, sizeof(*items));
    return &items[list->n++];
}

static vtpm_migration *
list_find(vtpm_migration_list *list, int version)
{
    for (size_t i = 0; i < list->n; i++) {
        if (list->items[i].version == version)
            return &list->items[i];
    }
    return NULL;
}

static int
compare_versions(const void *a, const void *b)
{
    const vtpm_migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* NNNN_word.sql, word of [a-z0-9_]; returns the version or -1. */
static int
parse_file_name(const char *name)
{
    size_t len = strlen(name);
    int version = 0;

    if (len < 10 || !has_suffix(name, ".sql") || name[4] != '_')
        return -1;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        version = version * 10 + (name[i] - '0');
    }
    for (size_t i = 5; i < len - 4; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    return version > 0 ? version : -1;
}

/*
 * Reads migration @path into a new NUL-terminated buffer (free it); NULL on
 * error. Only a regular file: a FIFO would block migrate forever, a device
 * could be anything. A file that would end the migration's transaction
 * part-way is refused before anything of it runs.
 */
static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    unsigned int line;
    char *buf = NULL, word[16];
    FILE *f;

    if (fd < 0 || fstat(fd, &st) < 0) {
        vtpm_strfmt(err, errlen, "cannot open migration '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        vtpm_strfmt(err, errlen, "migration '%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    f = VTPM_ALLOC_CHECK(fdopen(fd, "rb"));
    if (vtpm_file_read_stream(f, MAX_MIGRATION_BYTES, &buf, len) < 0) {
        if (errno == ENOMEM)
            vtpm_alloc_abort();
        vtpm_strfmt(err, errlen, "cannot read migration '%s': %s", path,
                    errno == EFBIG ? "too large or unreadable" : strerror(errno));
    }
    fclose(f);
    if (buf && (line = vtpm_sql_find_transaction_control(buf, *len, word, sizeof(word)))) {
        vtpm_strfmt(err, errlen, "migration '%s' line %u: %s would end the migration's "
                    "transaction part-way; a migration runs in one transaction of its own",
                    path, line, word);
        free(buf);
        return NULL;
    }
    return buf;
}

/* sha256 of @data in hex, computed by the server (no crypto library here). */
static int
checksum_compute(PGconn *conn, const char *data, size_t len, char out[65],
                 char *err, size_t errlen)
{
    const char *values[1] = { data };
    int lengths[1] = { (int)len };
    int formats[1] = { 1 };
    Oid types[1] = { OID_BYTEA };
    PGresult *res;
    char msg[512];

    res = PQexecParams(conn, "SELECT encode(sha256($1), 'hex')", 1, types, values,
                       lengths, formats, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_strfmt(err, errlen, "cannot compute checksum: %s",
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    vtpm_strfmt(out, 65, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int
list_files(PGconn *conn, const char *dir, vtpm_migration_list *list,
           char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        vtpm_strfmt(err, errlen, "cannot open migrations folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        int version = parse_file_name(e->d_name);
        vtpm_migration *m, *dup;

        if (version < 0) {
            /* Other files may share the folder, but a misnamed migration
             * left out without a word would be applied never. */
            if (e->d_name[0] != '.' && has_suffix(e->d_name, ".sql")) {
                vtpm_strfmt(err, errlen, "'%s' in '%s' is not named as a migration "
                            "(NNNN_name.sql, name of a-z, 0-9 and _)", e->d_name, dir);
                rc = -1;
                break;
            }
            continue;
        }
        if ((dup = list_find(list, version)) != NULL) {
            vtpm_strfmt(err, errlen, "two migrations numbered %04d in '%s': '%s' and '%s'",
                        version, dir, dup->name, e->d_name);
            rc = -1;
            break;
        }
        m = list_add(list);
        m->version = version;
        m->state = VTPM_MIGRATION_PENDING;
        vtpm_strfmt(m->name, sizeof(m->name), "%s", e->d_name);
    }
    closedir(d);
    if (rc < 0)
        return -1;
    if (list->n == 0) {
        vtpm_strfmt(err, errlen, "no migrations (NNNN_name.sql) in '%s'", dir);
        return -1;
    }
    for (size_t i = 0; conn && i < list->n; i++) {
        char path[4096];
        size_t len = 0;
        char *data;

        vtpm_strfmt(path, sizeof(path), "%s/%s", dir, list->items[i].name);
        if (!(data = read_file(path, &len, err, errlen)))
            return -1;
        rc = checksum_compute(conn, data, len, list->items[i].checksum, err, errlen);
        free(data);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Merges what the database recorded into @list. */
static int
list_merge_applied(PGconn *conn, vtpm_migration_list *list, char *err, size_t errlen)
{
    PGresult *res;
    char msg[512];
    int rc = 0;

    res = PQexec(conn, "SELECT to_regclass('vtpm_meta.migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        vtpm_strfmt(err, errlen, "cannot read migrations: %s",
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        return 0;   /* an empty database: everything is pending */
    }
    PQclear(res);
    res = PQexec(conn, "SELECT version, name, checksum, "
                       "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ') "
                       "FROM vtpm_meta.migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        vtpm_strfmt(err, errlen, "cannot read migrations: %s",
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *text = PQgetvalue(res, r, 0);
        char *end = NULL;
        long version;
        vtpm_migration *m;

        errno = 0;
        version = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || version <= 0 || version > INT_MAX) {
            vtpm_strfmt(err, errlen, "vtpm_meta.migrations has an invalid version '%s'", text);
            rc = -1;
            break;
        }
        m = list_find(list, (int)version);
        if (!m) {
            m = list_add(list);
            m->version = (int)version;
            vtpm_strfmt(m->name, sizeof(m->name), "%s", PQgetvalue(res, r, 1));
            m->state = VTPM_MIGRATION_MISSING;
        } else {
            m->state = strcmp(m->checksum, PQgetvalue(res, r, 2)) == 0
                ? VTPM_MIGRATION_APPLIED : VTPM_MIGRATION_EDITED;
        }
        vtpm_strfmt(m->applied_checksum, sizeof(m->applied_checksum), "%s",
                    PQgetvalue(res, r, 2));
        vtpm_strfmt(m->applied_at, sizeof(m->applied_at), "%s", PQgetvalue(res, r, 3));
    }
    PQclear(res);
    qsort(list->items, list->n, sizeof(*list->items), compare_versions);
    return rc;
}

int
vtpm_migrate_status(PGconn *conn, const char *dir, vtpm_migration_list *list,
                    char *err, size_t errlen)
{
    vtpm_migration_list_clear(list);
    if (list_files(conn, dir, list, err, errlen) < 0)
        goto error;
    qsort(list->items, list->n, sizeof(*list->items), compare_versions);
    if (conn && list_merge_applied(conn, list, err, errlen) < 0)
        goto error;
    return 0;

error:
    vtpm_migration_list_clear(list);   /* nothing for the caller to free */
    return -1;
}

static int
apply_one(PGconn *conn, const char *dir, const vtpm_migration *m, char *err, size_t errlen)
{
    char path[4096], msg[512], version[16];
    const char *values[3];
    PGresult *res;
    size_t len = 0;
    char *sql;

    vtpm_strfmt(path, sizeof(path), "%s/%s", dir, m->name);
    if (!(sql = read_file(path, &len, err, errlen)))
        return -1;
    if (exec_simple(conn, "BEGIN", err, errlen) < 0) {
        free(sql);
        return -1;
    }
    res = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        vtpm_strfmt(err, errlen, "migration '%s' failed, nothing of it applied: %s",
                    m->name, vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    vtpm_strfmt(version, sizeof(version), "%d", m->version);
    values[0] = version;
    values[1] = m->name;
    values[2] = m->checksum;
    /* The file may have changed roles (SET LOCAL ROLE); record as ourselves. */
    if (exec_simple(conn, "RESET ROLE", msg, sizeof(msg)) < 0) {
        vtpm_strfmt(err, errlen, "cannot record migration '%s': %s", m->name, msg);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    res = PQexecParams(conn,
                       "INSERT INTO vtpm_meta.migrations (version, name, checksum) "
                       "VALUES ($1::integer, $2, $3)",
                       3, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        vtpm_strfmt(err, errlen, "cannot record migration '%s': %s", m->name,
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    if (exec_simple(conn, "COMMIT", msg, sizeof(msg)) < 0) {
        vtpm_strfmt(err, errlen, "cannot commit migration '%s': %s", m->name, msg);
        return -1;
    }
    return 0;
}

static int
lock_take(PGconn *conn, bool take, char *err, size_t errlen)
{
    char msg[512];
    char sql[96];

    vtpm_strfmt(sql, sizeof(sql), "SELECT %s(%lld)",
                take ? "pg_advisory_lock" : "pg_advisory_unlock", VTPM_MIGRATE_LOCK_KEY);
    if (exec_simple(conn, sql, msg, sizeof(msg)) < 0) {
        vtpm_strfmt(err, errlen, "cannot %s the migration lock: %s",
                    take ? "take" : "release", msg);
        return -1;
    }
    return 0;
}

int
vtpm_migrate_apply(PGconn *conn, const char *dir, unsigned int *applied,
                   char *err, size_t errlen)
{
    vtpm_migration_list list = { 0 };
    char msg[512];
    int rc = -1;

    *applied = 0;
    if (lock_take(conn, true, err, errlen) < 0)
        return -1;
    if (exec_simple(conn, create_meta_sql, msg, sizeof(msg)) < 0) {
        vtpm_strfmt(err, errlen, "cannot create table 'vtpm_meta.migrations': %s", msg);
        goto cleanup;
    }
    if (vtpm_migrate_status(conn, dir, &list, err, errlen) < 0)
        goto cleanup;
    /* Check everything before applying anything. */
    for (size_t i = 0; i < list.n; i++) {
        const vtpm_migration *m = &list.items[i];

        if (m->state == VTPM_MIGRATION_EDITED) {
            vtpm_strfmt(err, errlen,
                        "migration '%s' was edited after it was applied "
                        "(checksum %.12s, applied %.12s): restore it and add a new "
                        "migration instead", m->name, m->checksum, m->applied_checksum);
            goto cleanup;
        }
        if (m->state == VTPM_MIGRATION_MISSING) {
            vtpm_strfmt(err, errlen,
                        "the database has migration '%s' which is not in '%s': "
                        "use the migrations of a newer release", m->name, dir);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < list.n; i++) {
        if (list.items[i].state != VTPM_MIGRATION_PENDING)
            continue;
        if (apply_one(conn, dir, &list.items[i], err, errlen) < 0)
            goto cleanup;
        (*applied)++;
    }
    rc = 0;

cleanup:
    vtpm_migration_list_clear(&list);
    if (PQstatus(conn) == CONNECTION_OK)
        lock_take(conn, false, msg, sizeof(msg));
    return rc;
}

int
vtpm_reporter_bind(PGconn *conn, const char *login, const char *host,
                   const char *password, const char *uuid, bool *created, char *err,
                   size_t errlen)
{
    const char *values[4] = { login, host, password, uuid };
    PGresult *res;
    char msg[512], qlogin[160], qhost[160];

    *created = false;
    res = PQexecParams(conn, "SELECT vtpm.bind_reporter($1, $2, $3, $4::uuid)", 4, NULL, values,
                       NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_strfmt(err, errlen, "cannot bind login %s to host %s: %s",
                    vtpm_quote(qlogin, sizeof(qlogin), login),
                    vtpm_quote(qhost, sizeof(qhost), host),
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    *created = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}
