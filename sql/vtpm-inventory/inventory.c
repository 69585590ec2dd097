/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-inventory: apply the inventory's migrations, bind reporter logins, show status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "exit.h"
#include "fleet_metrics.h"
#include "host_keys.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "secret_file.h"
#include "util.h"
#include "vtpm-config.h"

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
            "  metrics [--interval SECONDS]\n"
            "                             print fleet metrics in Prometheus's text\n"
            "                             format (a vtpm_reader login is enough);\n"
            "                             --interval: what the interval_* metrics count\n"
            "                             over (default %.0f)\n"
            "  set-heartbeat SECONDS [--grace SECONDS]\n"
            "                             record the reporters' heartbeat (0 to\n"
            "                             86400; 0: they publish every run): a host\n"
            "                             is stale after heartbeat + grace without\n"
            "                             a report (grace: 660 until set)\n"
            "  prune                      drop and delete the reports past their\n"
            "                             retention, make the next days' partitions\n"
            "                             (run it daily)\n"
            "  pool-login LOGIN [--password-file FILE]\n"
            "                             create the shared publishing login of the\n"
            "                             pooled mode: it may call\n"
            "                             vtpm.publish_signed() and vtpm.flush()\n"
            "  host-key create HOST [--uuid UUID] [--key-file FILE]\n"
            "                             create HOST's key for the pooled mode; its\n"
            "                             token is printed once (or written to FILE,\n"
            "                             a new file of mode 0600)\n"
            "  host-key rotate HOST [--key-file FILE]\n"
            "                             a second key for HOST; the first stays valid\n"
            "                             until the new one publishes\n"
            "  host-key revoke HOST [KEY_ID]\n"
            "                             revoke KEY_ID, or every key of HOST\n"
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
            "Run migrate, bind-reporter, set-heartbeat, prune, pool-login and host-key\n"
            "as a superuser (or\n"
            "the owner of the vtpm roles with CREATEROLE).\n"
            "\n",
            VTPM_FLEET_METRICS_INTERVAL_DEFAULT, VTPM_DATADIR);
    vtpm_exit_print_help(out, VTPM_EXIT_FOR_INVENTORY);
}

/* Connects to @dsn; a command that @writes asks for the server that accepts writes. */
static PGconn *
connect_db(const char *dsn, bool writes, int *rc)
{
    /* Of a multi-host DSN, the primary for what writes; status and metrics
     * may read a standby (what it has replayed). */
    static const vtpm_pg_connect_opts read_write = { .target_session_attrs = "read-write" };
    const vtpm_pg_connect_opts *opts = writes ? &read_write : NULL;
    PGconn *conn;
    char what[512], msg[512];

    *rc = VTPM_EXIT_UNREACHABLE;
    /* libpq's parse errors quote pieces of the DSN, a password's among them. */
    if (vtpm_pg_dsn_check(dsn) < 0) {
        VTPM_ERROR("cannot parse the DSN (not shown: it may hold a password): expected "
                   "key=value pairs or a postgresql:// URI");
        *rc = VTPM_EXIT_USAGE;
        return NULL;
    }
    conn = vtpm_pg_connect(dsn, opts);
    if (!conn) {
        VTPM_ERROR("out of memory");
        *rc = VTPM_EXIT_FAILURE;
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        /* Only what waiting may cure is "unreachable" (5): a refused login
         * or a database that does not exist is a failure (1). */
        if (vtpm_pg_classify(conn, NULL) != VTPM_PG_UNREACHABLE)
            *rc = VTPM_EXIT_FAILURE;
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
    password = vtpm_alloc_strdup(buf);
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
    int rc = VTPM_EXIT_OK;

    if (vtpm_migrate_status(conn, dir, &list, err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        return VTPM_EXIT_FAILURE;
    }
    for (size_t i = 0; i < list.n; i++) {
        const vtpm_migration *m = &list.items[i];

        printf("%-32s %s%s%s\n", m->name, state_names[m->state],
               m->applied_at[0] ? " " : "", m->applied_at);
        if (m->state == VTPM_MIGRATION_EDITED || m->state == VTPM_MIGRATION_MISSING)
            rc = VTPM_EXIT_FAILURE;
    }
    vtpm_migration_list_clear(&list);
    return rc;
}

static int
cmd_migrate(PGconn *conn, const char *dir, const char *what)
{
    unsigned int applied = 0;
    char err[1024];

    if (vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        return PQstatus(conn) == CONNECTION_OK ? VTPM_EXIT_FAILURE : VTPM_EXIT_UNREACHABLE;
    }
    if (applied)
        printf("%s: applied %u migration%s\n", what, applied, applied == 1 ? "" : "s");
    else
        printf("%s: already up to date\n", what);
    return VTPM_EXIT_OK;
}

static int
cmd_bind_reporter(PGconn *conn, const char *login, const char *host,
                  const char *password_file, const char *uuid)
{
    char *password = NULL;
    bool created = false;
    char err[1024], qlogin[160], qhost[160];
    int rc;

    if (password_file && !(password = read_password(password_file)))
        return VTPM_EXIT_FAILURE;
    rc = vtpm_reporter_bind(conn, login, host, password, uuid, &created, err, sizeof(err));
    vtpm_free_secret(password);
    if (rc < 0) {
        VTPM_ERROR("%s", err);
        return VTPM_EXIT_FAILURE;
    }
    printf("login %s %s host %s\n", vtpm_quote(qlogin, sizeof(qlogin), login),
           created ? "is now bound to" : "was already bound to",
           vtpm_quote(qhost, sizeof(qhost), host));
    return VTPM_EXIT_OK;
}

/* Prints everything or nothing: a scrape wrapper must not publish half. */
static int
cmd_metrics(PGconn *conn, double interval)
{
    char err[1024], *text;

    if (vtpm_fleet_metrics_collect(conn, interval, &text, err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        return PQstatus(conn) == CONNECTION_OK ? VTPM_EXIT_FAILURE : VTPM_EXIT_UNREACHABLE;
    }
    fputs(text, stdout);
    free(text);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        VTPM_ERROR("cannot write output: %s", strerror(errno));
        return VTPM_EXIT_USAGE;
    }
    return VTPM_EXIT_OK;
}

/* @text as whole seconds from 0 to 86400 into *@out; -1 if it is not. */
static int
parse_seconds(const char *text, const char *what, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || errno || v > 86400) {
        VTPM_ERROR("%s '%s' is not a number of seconds from 0 to 86400", what, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Sets the heartbeat (and grace) the staleness of vtpm.hosts is reckoned from. */
static int
cmd_set_heartbeat(PGconn *conn, long beat, long grace_s)
{
    char beat_txt[16], grace_txt[16], msg[512];
    const char *values[2] = { beat_txt, NULL };
    PGresult *res;
    int rc = VTPM_EXIT_OK;

    vtpm_strfmt(beat_txt, sizeof(beat_txt), "%ld", beat);
    if (grace_s >= 0) {
        vtpm_strfmt(grace_txt, sizeof(grace_txt), "%ld", grace_s);
        values[1] = grace_txt;
    }
    res = PQexecParams(conn,
                       "SELECT extract(epoch FROM vtpm.set_heartbeat($1::integer, $2::integer))"
                       "::bigint",
                       2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        VTPM_ERROR("cannot set the heartbeat: %s", vtpm_pg_message(res, conn, msg, sizeof(msg)));
        rc = vtpm_pg_classify(conn, res) == VTPM_PG_UNREACHABLE ? VTPM_EXIT_UNREACHABLE
                                                                : VTPM_EXIT_FAILURE;
    } else {
        printf("heartbeat %ld s: a host is stale after %s s without a report\n", beat,
               PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

/* Applies the reports' retention (vtpm.purge_reports()). */
static int
cmd_prune(PGconn *conn, const char *what)
{
    PGresult *res = PQexec(conn, "SELECT vtpm.purge_reports()");
    char msg[512];
    int rc = VTPM_EXIT_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        VTPM_ERROR("cannot prune the reports of %s: %s", what,
                   vtpm_pg_message(res, conn, msg, sizeof(msg)));
        rc = vtpm_pg_classify(conn, res) == VTPM_PG_UNREACHABLE ? VTPM_EXIT_UNREACHABLE
                                                                : VTPM_EXIT_FAILURE;
    } else {
        printf("%s: removed %s reports\n", what, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

/* What the command line asked for. */
typedef struct {
    const char *dsn;
    const char *dir;
    const char *password_file;
    const char *uuid;
    double interval;
    const char *grace;
    long beat;     /* set-heartbeat's SECONDS */
    long grace_s;  /* --grace, -1 when not given */
    const char *key_file;
    const char *cmd;
    char **args; /* the command's arguments */
} inventory_options;

static int
cmd_pool_login(PGconn *conn, const char *login, const char *password_file)
{
    char *password = NULL;
    bool created = false;
    char err[1024], qlogin[160];
    int rc;

    if (password_file && !(password = read_password(password_file)))
        return VTPM_EXIT_FAILURE;
    rc = vtpm_pool_login_create(conn, login, password, &created, err, sizeof(err));
    vtpm_free_secret(password);
    if (rc < 0) {
        VTPM_ERROR("%s", err);
        return VTPM_EXIT_FAILURE;
    }
    printf("login %s %s the shared publishing login\n", vtpm_quote(qlogin, sizeof(qlogin), login),
           created ? "created as" : "is");
    return VTPM_EXIT_OK;
}

/*
 * Opens @path for a new key: a file that did not exist (never another's
 * file or a link), mode 0600. Returns the descriptor or -1 (reported).
 */
static int
key_file_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);

    if (fd < 0)
        VTPM_ERROR("cannot create key file '%s': %s%s", path, strerror(errno),
                   errno == EEXIST ? " (a key file is never overwritten)" : "");
    return fd;
}

/* Writes @token and a newline to @fd, named @path, and closes it. */
static int
key_file_write(int fd, const char *path, const char *token)
{
    size_t len = strlen(token);
    int rc = 0;

    if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
        VTPM_ERROR("cannot write key file '%s': %s", path, strerror(errno));
        rc = -1;
    }
    if (close(fd) < 0 && rc == 0) {
        VTPM_ERROR("cannot write key file '%s': %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* host-key create|rotate HOST: the token goes to --key-file, else stdout, once. */
static int
cmd_host_key_issue(PGconn *conn, const char *host, const char *uuid, bool rotate,
                   const char *key_file)
{
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], key_id[VTPM_HOST_KEY_ID_LEN + 1];
    char err[1024], qhost[160];
    int fd = -1, rc = VTPM_EXIT_FAILURE;

    /* The file first: once the database made the key, it is shown nowhere else. */
    if (key_file && (fd = key_file_create(key_file)) < 0)
        return VTPM_EXIT_FAILURE;
    if (vtpm_host_key_issue(conn, host, uuid, rotate, key_id, token, sizeof(token), err,
                            sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        if (fd >= 0) {
            close(fd);
            unlink(key_file);
        }
        goto cleanup;
    }
    vtpm_quote(qhost, sizeof(qhost), host);
    if (fd >= 0) {
        if (key_file_write(fd, key_file, token) < 0) {
            unlink(key_file);
            VTPM_ERROR("key %s of host %s is lost: revoke it (host-key revoke)", key_id, qhost);
            goto cleanup;
        }
        fprintf(stderr, "key %s of host %s written to '%s'\n", key_id, qhost, key_file);
    } else {
        printf("%s\n", token);
        if (fflush(stdout) != 0) {
            VTPM_ERROR("cannot write output: %s; revoke key %s of host %s", strerror(errno),
                       key_id, qhost);
            rc = VTPM_EXIT_USAGE;
            goto cleanup;
        }
        fprintf(stderr, "key %s of host %s: shown once, above\n", key_id, qhost);
    }
    rc = VTPM_EXIT_OK;

cleanup:
    explicit_bzero(token, sizeof(token));
    return rc;
}

/* Whether the arguments of host-key make sense, before connecting. */
static bool
host_key_args_ok(const inventory_options *opts)
{
    const char *sub = opts->args[0];
    bool issue = strcmp(sub, "create") == 0 || strcmp(sub, "rotate") == 0;

    if (!issue && strcmp(sub, "revoke") != 0) {
        VTPM_ERROR("unknown host-key command '%s': create, rotate or revoke", sub);
        return false;
    }
    if ((issue && opts->args[2]) || (strcmp(sub, "create") != 0 && opts->uuid) ||
        (!issue && opts->key_file)) {
        VTPM_ERROR("host-key %s takes HOST%s%s", sub, issue ? "" : " [KEY_ID]",
                   strcmp(sub, "create") == 0 ? " [--uuid UUID] [--key-file FILE]"
                   : issue ? " [--key-file FILE]" : "");
        return false;
    }
    return true;
}

static int
cmd_host_key(PGconn *conn, const inventory_options *opts)
{
    const char *sub = opts->args[0], *host = opts->args[1], *key_id = opts->args[2];
    char err[1024], qhost[160];
    int count;

    if (strcmp(sub, "revoke") != 0)
        return cmd_host_key_issue(conn, host, opts->uuid, sub[0] == 'r', opts->key_file);
    if (vtpm_host_key_revoke(conn, host, key_id, &count, err, sizeof(err)) < 0) {
        VTPM_ERROR("%s", err);
        return VTPM_EXIT_FAILURE;
    }
    printf("host %s: %d key%s revoked\n", vtpm_quote(qhost, sizeof(qhost), host), count,
           count == 1 ? "" : "s");
    return VTPM_EXIT_OK;
}


/* Parses the command line into @opts. Returns -1 to go on, else the exit
 * code to end with. */
static int
parse_options(int argc, char **argv, inventory_options *opts)
{
    static const struct option options[] = {
        { "dsn", required_argument, NULL, 'd' },
        { "dir", required_argument, NULL, 'D' },
        { "password-file", required_argument, NULL, 'p' },
        { "uuid", required_argument, NULL, 'u' },
        { "interval", required_argument, NULL, 'i' },
        { "grace", required_argument, NULL, 'g' },
        { "key-file", required_argument, NULL, 'k' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    /* Each command with the number of its arguments, itself included. */
    static const struct {
        const char *name;
        int min, max;
    } commands[] = { { "migrate", 1, 1 }, { "status", 1, 1 }, { "bind-reporter", 3, 3 },
                     { "metrics", 1, 1 }, { "set-heartbeat", 2, 2 }, { "prune", 1, 1 },
                     { "pool-login", 2, 2 }, { "host-key", 3, 4 } };
    int opt;

    while ((opt = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'd': opts->dsn = optarg; break;
        case 'D': opts->dir = optarg; break;
        case 'p': opts->password_file = optarg; break;
        case 'u': opts->uuid = optarg; break;
        case 'i':
            if (vtpm_fleet_metrics_parse_interval(optarg, &opts->interval) < 0) {
                VTPM_ERROR("--interval must be a number of seconds from %.0f to %.0f, not '%s'",
                           VTPM_FLEET_METRICS_INTERVAL_MIN, VTPM_FLEET_METRICS_INTERVAL_MAX,
                           optarg);
                return VTPM_EXIT_USAGE;
            }
            break;
        case 'g': opts->grace = optarg; break;
        case 'k': opts->key_file = optarg; break;
        case 'v': vtpm_log_init("vtpm-inventory", VTPM_LOG_DEBUG); break;
        case 'h': usage(stdout); return VTPM_EXIT_OK;
        case 'V': printf("vtpm-inventory %s\n", VTPM_VERSION); return VTPM_EXIT_OK;
        default: usage(stderr); return VTPM_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return VTPM_EXIT_USAGE;
    }
    opts->cmd = argv[optind];
    opts->args = argv + optind + 1;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(commands); i++) {
        if (strcmp(opts->cmd, commands[i].name) != 0)
            continue;
        if (argc - optind < commands[i].min || argc - optind > commands[i].max) {
            usage(stderr);
            return VTPM_EXIT_USAGE;
        }
        /* Checked before connecting: a typo is a usage error, not a database one. */
        if (strcmp(opts->cmd, "set-heartbeat") == 0 &&
            (parse_seconds(opts->args[0], "heartbeat", &opts->beat) < 0 ||
             (opts->grace && parse_seconds(opts->grace, "grace", &opts->grace_s) < 0)))
            return VTPM_EXIT_USAGE;
        return -1;
    }
    VTPM_ERROR("unknown command '%s'", opts->cmd);
    usage(stderr);
    return VTPM_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    inventory_options opts = { .dir = VTPM_DATADIR "/migrations",
                               .interval = VTPM_FLEET_METRICS_INTERVAL_DEFAULT,
                               .grace_s = -1 };
    char what[512];
    PGconn *conn;
    int rc;

    vtpm_log_init("vtpm-inventory", VTPM_LOG_INFO);
    if ((rc = parse_options(argc, argv, &opts)) >= 0)
        return rc;
    if (strcmp(opts.cmd, "host-key") == 0 && !host_key_args_ok(&opts)) {
        usage(stderr);
        return VTPM_EXIT_USAGE;
    }
    /* status and metrics only read: a standby will do. */
    if (!(conn = connect_db(vtpm_dsn_lookup(opts.dsn),
                            strcmp(opts.cmd, "status") != 0 && strcmp(opts.cmd, "metrics") != 0,
                            &rc)))
        return rc;
    vtpm_pgconn_describe(conn, what, sizeof(what));

    if (strcmp(opts.cmd, "migrate") == 0)
        rc = cmd_migrate(conn, opts.dir, what);
    else if (strcmp(opts.cmd, "status") == 0)
        rc = cmd_status(conn, opts.dir);
    else if (strcmp(opts.cmd, "metrics") == 0)
        rc = cmd_metrics(conn, opts.interval);
    else if (strcmp(opts.cmd, "prune") == 0)
        rc = cmd_prune(conn, what);
    else if (strcmp(opts.cmd, "set-heartbeat") == 0)
        rc = cmd_set_heartbeat(conn, opts.beat, opts.grace_s);
    else if (strcmp(opts.cmd, "bind-reporter") == 0)
        rc = cmd_bind_reporter(conn, opts.args[0], opts.args[1], opts.password_file,
                               opts.uuid);
    else if (strcmp(opts.cmd, "pool-login") == 0)
        rc = cmd_pool_login(conn, opts.args[0], opts.password_file);
    else
        rc = cmd_host_key(conn, &opts);
    PQfinish(conn);
    return rc;
}
