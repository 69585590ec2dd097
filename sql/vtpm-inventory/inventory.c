/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-inventory: apply the inventory's migrations, bind reporter logins, show status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "secret_file.h"
#include "util.h"
#include "vtpm-config.h"

enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 5
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: vtpm-inventory [--dsn DSN] [--dir DIR] [-v] COMMAND\n"
            "\n"
            "commands:\n"
            "  migrate                    apply pending migrations (idempotent)\n"
            "  status                     list migrations: applied, pending, edited\n"
            "  bind-reporter LOGIN HOST [--password-file FILE] [--uuid UUID]\n"
            "                             create login LOGIN if needed, make it a\n"
            "                             reporter and allow it to publish HOST;\n"
            "                             --uuid fixes HOST's provider UUID (Nova's\n"
            "                             compute node UUID): a reporter cannot\n"
            "                             choose one\n"
            "\n"
            "options:\n"
            "  --dsn DSN      libpq connection string or URI (default: $VTPM_DSN,\n"
            "                 then libpq's PGHOST, PGPORT, PGDATABASE, PGUSER, ...)\n"
            "  --dir DIR      migrations folder\n"
            "                 (default %s/migrations)\n"
            "  -v, --verbose  log debug messages on stderr\n"
            "  -h, --help     print this help\n"
            "  -V, --version  print the version\n"
            "\n"
            "Run migrate and bind-reporter as a superuser (or the owner of the vtpm\n"
            "roles with CREATEROLE). Exit status: 0 done, 1 failed (a refused login\n"
            "included), 2 usage error, 5 database unreachable (worth a retry).\n",
            VTPM_DATADIR);
}

static PGconn *
connect_db(const char *dsn, int *rc)
{
    PGconn *conn;
    char what[512], msg[512];

    *rc = EXIT_UNREACHABLE;
    /* libpq's parse errors quote pieces of the DSN, a password's among them. */
    if (vtpm_pg_dsn_check(dsn) < 0) {
        VTPM_ERROR("cannot parse the DSN (not shown: it may hold a password): expected "
                   "key=value pairs or a postgresql:// URI");
        *rc = EXIT_USAGE;
        return NULL;
    }
    conn = vtpm_pg_connect(dsn, NULL);
    if (!conn) {
        VTPM_ERROR("out of memory");
        *rc = EXIT_FAIL;
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        /* Only what waiting may cure is "unreachable" (5): a refused login
         * or a database that does not exist is a failure (1). */
        if (vtpm_pg_classify(conn, NULL) != VTPM_PG_UNREACHABLE)
            *rc = EXIT_FAIL;
        VTPM_ERROR("cannot connect to %s: %s", vtpm_pgconn_describe(conn, what, sizeof(what)),
                   vtpm_pg_message(NULL, conn, msg, sizeof(msg)));
        PQfinish(conn);
        return NULL;
    }
    /* Migrations print NOTICEs such as "schema already exists": keep quiet. */
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

/* The first line of @path, a file only its owner may read (as the reporter's secrets). */
static char *
read_password(const char *path)
{
    char buf[1024], err[1024], *password;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    FILE *f;
    size_t len;

    if (fd < 0) {
        VTPM_ERROR("cannot open password file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (vtpm_secret_file_check(fd, path, "password file", err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        close(fd);
        return NULL;
    }
    if (!(f = fdopen(fd, "r"))) {
        VTPM_ERROR("cannot open password file '%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    if (len == 0) {
        VTPM_ERROR("password file '%s' is empty", path);
        return NULL;
    }
    password = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return password;
}

static const char *const state_names[] = {
    [VTPM_MIGRATION_PENDING] = "pending",
    [VTPM_MIGRATION_APPLIED] = "applied",
    [VTPM_MIGRATION_EDITED] = "EDITED after it was applied",
    [VTPM_MIGRATION_MISSING] = "applied, file MISSING",
};

static int
cmd_status(PGconn *conn, const char *dir)
{
    vtpm_migration_list list = { 0 };
    char err[1024];
    int rc = EXIT_OK;

    if (vtpm_migrate_status(conn, dir, &list, err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < list.n; i++) {
        const vtpm_migration *m = &list.items[i];

        printf("%-32s %s%s%s\n", m->name, state_names[m->state],
               m->applied_at[0] ? " " : "", m->applied_at);
        if (m->state == VTPM_MIGRATION_EDITED || m->state == VTPM_MIGRATION_MISSING)
            rc = EXIT_FAIL;
    }
    vtpm_migration_list_clear(&list);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "dsn", required_argument, NULL, 'd' },
        { "dir", required_argument, NULL, 'D' },
        { "password-file", required_argument, NULL, 'p' },
        { "uuid", required_argument, NULL, 'u' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *dsn = NULL;
    const char *dir = VTPM_DATADIR "/migrations";
    const char *password_file = NULL;
    const char *uuid = NULL;
    const char *cmd;
    char err[1024], what[512];
    PGconn *conn;
    int opt, rc;

    vtpm_log_init("vtpm-inventory", VTPM_LOG_INFO);
    while ((opt = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'd': dsn = optarg; break;
        case 'D': dir = optarg; break;
        case 'p': password_file = optarg; break;
        case 'u': uuid = optarg; break;
        case 'v': vtpm_log_init("vtpm-inventory", VTPM_LOG_DEBUG); break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("vtpm-inventory %s\n", VTPM_VERSION); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "status") == 0) {
        if (argc - optind != 1) {
            usage(stderr);
            return EXIT_USAGE;
        }
    } else if (strcmp(cmd, "bind-reporter") == 0) {
        if (argc - optind != 3) {
            usage(stderr);
            return EXIT_USAGE;
        }
    } else {
        VTPM_ERROR("unknown command '%s'", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }

    if (!(conn = connect_db(vtpm_dsn_lookup(dsn), &rc)))
        return rc;
    vtpm_pgconn_describe(conn, what, sizeof(what));

    if (strcmp(cmd, "migrate") == 0) {
        unsigned int applied = 0;

        if (vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)) < 0) {
            VTPM_ERROR("%s", err);
            rc = PQstatus(conn) == CONNECTION_OK ? EXIT_FAIL : EXIT_UNREACHABLE;
        } else {
            if (applied)
                printf("%s: applied %u migration%s\n", what, applied, applied == 1 ? "" : "s");
            else
                printf("%s: already up to date\n", what);
            rc = EXIT_OK;
        }
    } else if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(conn, dir);
    } else {
        char *password = NULL;
        bool created = false;

        rc = EXIT_OK;
        if (password_file && !(password = read_password(password_file)))
            rc = EXIT_FAIL;
        if (rc == EXIT_OK &&
            vtpm_reporter_bind(conn, argv[optind + 1], argv[optind + 2], password, uuid,
                               &created, err, sizeof(err)) < 0) {
            VTPM_ERROR("%s", err);
            rc = EXIT_FAIL;
        }
        vtpm_free_secret(password);
        if (rc == EXIT_OK) {
            char qlogin[160], qhost[160];

            printf("login %s %s host %s\n", vtpm_quote(qlogin, sizeof(qlogin), argv[optind + 1]),
                   created ? "is now bound to" : "was already bound to",
                   vtpm_quote(qhost, sizeof(qhost), argv[optind + 2]));
        }
    }
    PQfinish(conn);
    return rc;
}
