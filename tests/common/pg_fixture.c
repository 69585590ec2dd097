/* SPDX-License-Identifier: Apache-2.0 */
/* A throwaway PostgreSQL cluster for the inventory tests (scripts/pg-cluster.sh). */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"
#include "pg_fixture.h"
#include "util.h"

static const char *
source_root(void)
{
    const char *root = getenv("VTPM_SOURCE_ROOT");

    return root && *root ? root : ".";
}

const char *
vtpm_test_migrations_dir(void)
{
    static char dir[1024];

    vtpm_strfmt(dir, sizeof(dir), "%s/sql/migrations", source_root());
    return dir;
}

int
vtpm_test_spawn(char *const argv[], char *out, unsigned int outlen)
{
    int pipefd[2];
    pid_t pid;
    int status;
    size_t o = 0;

    if (pipe(pipefd) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        char buf[512];
        ssize_t n = read(pipefd[0], buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && out && o + 1 < outlen; i++)
            out[o++] = buf[i];
    }
    close(pipefd[0]);
    if (out && outlen)
        out[o] = '\0';
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
cluster_cmd(vtpm_test_pg *pg, const char *cmd, char *out, unsigned int outlen)
{
    char script[1024];
    char *argv[] = { script, (char *)cmd, pg->dir, NULL };

    vtpm_strfmt(script, sizeof(script), "%s/scripts/pg-cluster.sh", source_root());
    return vtpm_test_spawn(argv, out, outlen);
}

/*
 * Clusters started and not destroyed yet. A test program whose group setup
 * fails half-way returns without its teardown: these are stopped at its
 * exit instead, so that no server outlives a failed run. Only in the process
 * that started them (a forked child that exits must not stop them).
 */
static vtpm_test_pg *started[8];
static pid_t started_by;

static void
stop_leftover_clusters(void)
{
    if (getpid() != started_by)
        return;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(started); i++) {
        if (started[i])
            vtpm_test_pg_destroy(started[i]);
    }
}

static void
track_cluster(vtpm_test_pg *pg, bool add)
{
    if (add && !started_by) {
        started_by = getpid();
        atexit(stop_leftover_clusters);
    }
    for (size_t i = 0; i < VTPM_N_ELEMENTS(started); i++) {
        if (add && !started[i]) {
            started[i] = pg;
            return;
        }
        if (!add && started[i] == pg)
            started[i] = NULL;
    }
}

/*
 * Forks a watcher for @pg's cluster: it waits on a pipe whose write end only
 * this process holds (close-on-exec, so no server or tool started later
 * inherits it), and when it reads end of file it stops the cluster and
 * removes its folder (and stops a PgBouncer started in its "pgbouncer"
 * subfolder, vtpm_test_pgbouncer_start()). End of file comes from vtpm_test_pg_destroy() (then
 * there is nothing left to do) or from this process's death in any way:
 * abort() under a sanitizer and signals skip atexit(), the watcher does not.
 * It leaves the test's process group, so that a signal to the group (a test
 * harness's timeout) does not take it down with the test.
 */
static void
watch_cluster(vtpm_test_pg *pg)
{
    char script[1024];
    int fds[2];
    pid_t pid;

    vtpm_strfmt(script, sizeof(script), "%s/scripts/pg-cluster.sh", source_root());
    if (pipe2(fds, O_CLOEXEC) < 0)
        return;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        char c;

        /* Nothing else of the test's: a socket the test closes to play a
         * server that went away must really close. */
        if (fds[0] > 3)
            (void)close_range(3, (unsigned int)fds[0] - 1, 0);
        (void)close_range((unsigned int)fds[0] + 1, ~0U, 0);
        (void)setsid();
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        /* A PgBouncer the test started in the cluster's folder goes too. */
        execl("/bin/sh", "sh", "-c",
              "[ -s \"$1/pgbouncer/pid\" ] && kill \"$(cat \"$1/pgbouncer/pid\")\" 2>/dev/null; "
              "\"$0\" stop \"$1\" >/dev/null 2>&1; rm -rf \"$1\"",
              script, pg->dir, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    pg->watcher = pid;
    pg->watch_fd = fds[1];
}

static void
unwatch_cluster(vtpm_test_pg *pg)
{
    if (pg->watcher <= 0)
        return;
    close(pg->watch_fd);
    while (waitpid(pg->watcher, NULL, 0) < 0 && errno == EINTR)
        ;
    pg->watcher = 0;
}

int
vtpm_test_pg_start(vtpm_test_pg *pg)
{
    char tmpl[] = "/tmp/vtpm-pgtest-XXXXXX";
    char out[1024];

    memset(pg, 0, sizeof(*pg));
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "cannot create a temporary folder: %s\n", strerror(errno));
        return -1;
    }
    vtpm_strfmt(pg->dir, sizeof(pg->dir), "%s", tmpl);
    setenv("VTPM_PG_FAST", "1", 0);
    watch_cluster(pg);
    if (cluster_cmd(pg, "start", out, sizeof(out)) != 0) {
        fprintf(stderr, "cannot start PostgreSQL with scripts/pg-cluster.sh in '%s' "
                "(install it with scripts/setup.sh)\n", pg->dir);
        vtpm_test_pg_destroy(pg);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    vtpm_strfmt(pg->dsn, sizeof(pg->dsn), "%s", out);
    pg->running = true;
    track_cluster(pg, true);
    return 0;
}

int
vtpm_test_pg_start_inventory(vtpm_test_pg *pg, const char *db, char *dsn, unsigned int size,
                             PGconn **admin)
{
    char err[1024];
    unsigned int applied = 0;

    *admin = NULL;
    if (vtpm_test_pg_start(pg) < 0 || vtpm_test_pg_create_db(pg, db, dsn, size) < 0)
        return -1;
    *admin = vtpm_test_pg_connect(dsn);
    if (vtpm_migrate_apply(*admin, vtpm_test_migrations_dir(), &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "cannot migrate database '%s': %s\n", db, err);
        return -1;
    }
    return 0;
}

int
vtpm_test_pg_stop(vtpm_test_pg *pg)
{
    if (cluster_cmd(pg, "stop", NULL, 0) != 0)
        return -1;
    pg->running = false;
    return 0;
}

int
vtpm_test_pg_restart(vtpm_test_pg *pg)
{
    char out[1024];
    char script[1024], port[32];
    FILE *f;
    char path[512];

    /* Same port as before, so that DSNs handed out stay valid. */
    vtpm_strfmt(path, sizeof(path), "%s/port", pg->dir);
    f = fopen(path, "r");
    if (!f || !fgets(port, sizeof(port), f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    port[strcspn(port, "\n")] = '\0';
    vtpm_strfmt(script, sizeof(script), "%s/scripts/pg-cluster.sh", source_root());
    {
        char *argv[] = { script, (char *)"start", pg->dir, port, NULL };

        if (vtpm_test_spawn(argv, out, sizeof(out)) != 0)
            return -1;
    }
    pg->running = true;
    return 0;
}

/* The state letter of process @pid from /proc, or 0 when there is none. */
static char
process_state(long pid)
{
    char path[64], buf[512];
    const char *p;
    FILE *f;
    size_t n;

    vtpm_strfmt(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

int
vtpm_test_pg_crash(vtpm_test_pg *pg)
{
    char path[512], line[64];
    char *end = NULL;
    long pid;
    FILE *f;

    vtpm_strfmt(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
    if (!(f = fopen(path, "r")) || !fgets(line, sizeof(line), f)) {
        fprintf(stderr, "cannot read '%s': %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    errno = 0;
    pid = strtol(line, &end, 10);
    if (errno != 0 || end == line || pid <= 1 || kill((pid_t)pid, SIGQUIT) < 0) {
        fprintf(stderr, "cannot signal the postmaster '%s' of '%s': %s\n", line, pg->dir,
                strerror(errno));
        return -1;
    }
    /* Gone, or a zombie nobody reaps (its parent is whatever adopted it). */
    for (int i = 0; i < 3000; i++) {
        char state = process_state(pid);

        if (state == 0 || state == 'Z') {
            pg->running = false;
            return 0;
        }
        usleep(10000);
    }
    fprintf(stderr, "the postmaster %ld of '%s' did not exit\n", pid, pg->dir);
    return -1;
}

void
vtpm_test_pg_destroy(vtpm_test_pg *pg)
{
    char *rm[] = { (char *)"rm", (char *)"-rf", pg->dir, NULL };

    if (!pg || !pg->dir[0])
        return;
    cluster_cmd(pg, "stop", NULL, 0);
    pg->running = false;
    if (strncmp(pg->dir, "/tmp/vtpm-pgtest-", 17) == 0)
        vtpm_test_spawn(rm, NULL, 0);
    unwatch_cluster(pg);
    pg->dir[0] = '\0';
    track_cluster(pg, false);
}

char *
vtpm_test_pg_dsn(const vtpm_test_pg *pg, const char *db, const char *user,
                 char *dsn, unsigned int size)
{
    char base[512];
    char *p;

    /* pg->dsn is "host=H port=P user=postgres dbname=postgres". */
    vtpm_strfmt(base, sizeof(base), "%s", pg->dsn);
    if ((p = strstr(base, " user=")) != NULL)
        *p = '\0';
    vtpm_strfmt(dsn, size, "%s user=%s dbname=%s", base, user ? user : "postgres", db);
    return dsn;
}

char *
vtpm_test_pg_tcp_dsn(const vtpm_test_pg *pg, const char *db, const char *password,
                     char *dsn, unsigned int size)
{
    const char *port = strstr(pg->dsn, " port=");
    int len = port ? (int)strcspn(port + 6, " ") : 0;

    vtpm_strfmt(dsn, size, "host=127.0.0.1 port=%.*s user=postgres password=%s dbname=%s",
                len, port ? port + 6 : "", password, db);
    return dsn;
}

PGconn *
vtpm_test_pg_connect(const char *dsn)
{
    PGconn *conn = PQconnectdb(dsn);

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to '%s': %s", dsn, PQerrorMessage(conn));
        PQfinish(conn);
        abort();
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

char *
vtpm_test_pg_value(PGconn *conn, const char *sql, char *err, unsigned int errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    char *value = NULL;

    if (st == PGRES_TUPLES_OK) {
        value = strdup(PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    } else if (st == PGRES_COMMAND_OK) {
        value = strdup("");
    } else if (err) {
        const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        vtpm_strfmt(err, errlen, "%s", m ? m : PQerrorMessage(conn));
    }
    PQclear(res);
    return value;
}

const char *
vtpm_test_pg_answer(PGconn *conn, const char *sql, char *out, size_t size)
{
    PGresult *res = PQexec(conn, sql);
    const char *state;

    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        vtpm_strfmt(out, size, "%s",
                    PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0) : "");
        break;
    case PGRES_COMMAND_OK:
        vtpm_strfmt(out, size, "%s", "");
        break;
    default:
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        vtpm_strfmt(out, size, "ERROR:%s", state ? state : "?????");
        break;
    }
    PQclear(res);
    return out;
}

int
vtpm_test_pg_create_db(vtpm_test_pg *pg, const char *name, char *dsn, unsigned int size)
{
    PGconn *conn = vtpm_test_pg_connect(pg->dsn);
    const char *values[1] = { name };
    PGresult *res;
    char sql[256];
    int rc = 0;

    /* CREATE DATABASE takes no parameters; @name comes from the test itself. */
    res = PQexecParams(conn, "SELECT quote_ident($1)", 1, NULL, values, NULL, NULL, 0);
    vtpm_strfmt(sql, sizeof(sql), "CREATE DATABASE %s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "cannot create database '%s': %s", name, PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    PQfinish(conn);
    vtpm_test_pg_dsn(pg, name, NULL, dsn, size);
    return rc;
}

/* Reads the whole of file @path into a new string (free it); NULL on error. */
static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)len + 1)) != NULL) {
        if (fread(text, 1, (size_t)len, f) != (size_t)len) {
            free(text);
            text = NULL;
        } else {
            text[len] = '\0';
        }
    }
    fclose(f);
    return text;
}

/* Writes @a then @b (either may be NULL) over file @path, keeping its owner and mode. */
static int
write_text(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "r+");
    int rc = 0;

    if (!f)
        return -1;
    if (ftruncate(fileno(f), 0) < 0 || (a && fputs(a, f) == EOF) || (b && fputs(b, f) == EOF))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int
vtpm_test_pg_configure(vtpm_test_pg *pg, const char *conf_lines, const char *hba_lines)
{
    char conf[512], hba[512];
    char *old = NULL;
    int rc = -1;

    vtpm_strfmt(conf, sizeof(conf), "%s/data/postgresql.conf", pg->dir);
    vtpm_strfmt(hba, sizeof(hba), "%s/data/pg_hba.conf", pg->dir);
    if (conf_lines) {
        FILE *f = fopen(conf, "a");

        if (!f || fputs(conf_lines, f) == EOF || fclose(f) != 0) {
            fprintf(stderr, "cannot append to '%s': %s\n", conf, strerror(errno));
            return -1;
        }
    }
    if (hba_lines) {
        if (!(old = read_text(hba)) || write_text(hba, hba_lines, old) < 0) {
            fprintf(stderr, "cannot rewrite '%s': %s\n", hba, strerror(errno));
            goto cleanup;
        }
    }
    if (vtpm_test_pg_stop(pg) < 0 || vtpm_test_pg_restart(pg) < 0) {
        fprintf(stderr, "cannot restart PostgreSQL in '%s' with the new settings, see "
                "'%s/postgres.log'\n", pg->dir, pg->dir);
        goto cleanup;
    }
    rc = 0;

cleanup:
    free(old);
    return rc;
}

int
vtpm_test_copy_file(const vtpm_test_pg *pg, const char *src, const char *dst, unsigned int mode)
{
    char *text = read_text(src);
    struct stat st;
    int fd = -1, rc = -1;
    size_t len;

    if (!text) {
        fprintf(stderr, "cannot read '%s': %s\n", src, strerror(errno));
        return -1;
    }
    len = strlen(text);
    unlink(dst);
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fchmod(fd, (mode_t)mode) < 0) {
        fprintf(stderr, "cannot write '%s': %s\n", dst, strerror(errno));
        goto cleanup;
    }
    if (pg && (stat(pg->dir, &st) < 0 || fchown(fd, st.st_uid, st.st_gid) < 0)) {
        fprintf(stderr, "cannot give '%s' to the owner of '%s': %s\n", dst, pg->dir,
                strerror(errno));
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

static bool
locale_exists(const char *name)
{
    locale_t loc = newlocale(LC_ALL_MASK, name, (locale_t)0);

    if (!loc)
        return false;
    freelocale(loc);
    return true;
}

int
vtpm_test_locale_ensure(const char *name)
{
    char input[64], exe[] = "localedef", opt_i[] = "-i", opt_f[] = "-f", out[1024];
    const char *dot = strchr(name, '.');
    char *argv[] = { exe, opt_i, input, opt_f, NULL, (char *)name, NULL };

    if (locale_exists(name))
        return 0;
    if (!dot || (size_t)(dot - name) >= sizeof(input)) {
        fprintf(stderr, "locale '%s': expected language_TERRITORY.charmap\n", name);
        return -1;
    }
    vtpm_strfmt(input, sizeof(input), "%.*s", (int)(dot - name), name);
    argv[4] = (char *)dot + 1;
    if (vtpm_test_spawn(argv, out, sizeof(out)) != 0 || !locale_exists(name)) {
        fprintf(stderr, "locale '%s' is missing and 'localedef -i %s -f %s %s' could not "
                "make it: install Debian package locales and run it as root, or add the "
                "locale to /etc/locale.gen and run locale-gen\n", name, input, dot + 1, name);
        return -1;
    }
    return 0;
}

bool
vtpm_test_through_pgbouncer(void)
{
    const char *v = getenv("VTPM_TEST_PGBOUNCER");

    return v && strcmp(v, "1") == 0;
}

/* The Unix socket folder and port of @pg's superuser DSN. */
static int
pg_socket_of(const vtpm_test_pg *pg, char *host, size_t hsize, char *port, size_t psize)
{
    PQconninfoOption *opts = PQconninfoParse(pg->dsn, NULL);

    if (!opts)
        return -1;
    host[0] = port[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "host") == 0)
            vtpm_strfmt(host, hsize, "%s", o->val);
        else if (o->val && strcmp(o->keyword, "port") == 0)
            vtpm_strfmt(port, psize, "%s", o->val);
    }
    PQconninfoFree(opts);
    return host[0] && port[0] ? 0 : -1;
}

int
vtpm_test_pgbouncer_start(const vtpm_test_pg *pg, const char *dir, const char *userlist,
                          char *dsn, unsigned int size)
{
    char script[1024], host[512], port[16], path[1024];
    FILE *f;
    int rc;

    if (pg_socket_of(pg, host, sizeof(host), port, sizeof(port)) < 0) {
        fprintf(stderr, "no socket and port in the cluster's DSN\n");
        return -1;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    vtpm_strfmt(path, sizeof(path), "%s/userlist.txt", dir);
    if (!(f = fopen(path, "w")) || fputs(userlist ? userlist : "", f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write '%s'\n", path);
        return -1;
    }
    vtpm_strfmt(script, sizeof(script), "%s/tests/fixtures/pgbouncer.sh", source_root());
    rc = vtpm_test_spawn((char *const[]){ script, (char *)"start", (char *)dir, port, host, NULL },
                         dsn, size);
    if (rc != 0) {
        fprintf(stderr, "pgbouncer.sh start failed (%d)\n", rc);
        return -1;
    }
    dsn[strcspn(dsn, "\n")] = '\0';
    return 0;
}

void
vtpm_test_pgbouncer_stop(const char *dir)
{
    char script[1024];

    vtpm_strfmt(script, sizeof(script), "%s/tests/fixtures/pgbouncer.sh", source_root());
    vtpm_test_spawn((char *const[]){ script, (char *)"stop", (char *)dir, NULL }, NULL, 0);
    vtpm_test_spawn((char *const[]){ (char *)"rm", (char *)"-rf", (char *)dir, NULL }, NULL, 0);
}

long long
vtpm_test_pg_number(PGconn *conn, const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));
    long long n;

    if (!v) {
        fail_msg("%s: %s", sql, err);
        return -1;
    }
    n = strtoll(v, NULL, 10);
    free(v);
    return n;
}
