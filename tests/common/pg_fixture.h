/* SPDX-License-Identifier: Apache-2.0 */
/* A throwaway PostgreSQL cluster for the inventory tests (scripts/pg-cluster.sh). */
#ifndef VTPM_TESTS_PG_FIXTURE_H
#define VTPM_TESTS_PG_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct {
    char dir[256];        /* temporary folder of the cluster */
    char dsn[512];        /* superuser DSN, database "postgres" */
    bool running;
    pid_t watcher;        /* stops and removes the cluster if this process dies; 0: none */
    int watch_fd;         /* the watcher's pipe, held only by this process */
} vtpm_test_pg;

/* Starts a cluster in a new temporary folder. Returns 0, or -1 with a message on stderr. */
int vtpm_test_pg_start(vtpm_test_pg *pg);

/*
 * Starts a cluster, creates database @db with every migration of the source
 * tree applied and connects to it as the superuser: its DSN goes to @dsn
 * (@size bytes), the connection to *@admin (PQfinish it). Returns 0, or -1
 * with a message on stderr.
 */
int vtpm_test_pg_start_inventory(vtpm_test_pg *pg, const char *db, char *dsn, unsigned int size,
                                 PGconn **admin);

/* Stops a started cluster (keeps the folder) / starts it again. */
int vtpm_test_pg_stop(vtpm_test_pg *pg);
int vtpm_test_pg_restart(vtpm_test_pg *pg);

/*
 * Crashes a started cluster: an immediate shutdown (SIGQUIT to the
 * postmaster), which ends every process without writing what is still in
 * shared memory, as a crash would; the next start runs crash recovery.
 * Returns once the postmaster is gone: 0, or -1 with a message on stderr.
 */
int vtpm_test_pg_crash(vtpm_test_pg *pg);

/* Stops the cluster and removes its folder; NULL-safe, idempotent. */
void vtpm_test_pg_destroy(vtpm_test_pg *pg);

/*
 * Creates database @name and writes its DSN for @user (NULL: the superuser)
 * into @dsn (@size bytes). Returns 0 or -1.
 */
int vtpm_test_pg_create_db(vtpm_test_pg *pg, const char *name, char *dsn, unsigned int size);

/* The DSN of database @db as @user, in @dsn. Returns @dsn. */
char *vtpm_test_pg_dsn(const vtpm_test_pg *pg, const char *db, const char *user,
                       char *dsn, unsigned int size);

/*
 * The DSN of database @db for the superuser over TCP, host=127.0.0.1 on the
 * cluster's port, instead of the Unix socket of pg->dsn, with @password
 * (TCP logins need one: set it first, e.g. ALTER ROLE postgres PASSWORD).
 * For tests of what only TCP has: keepalives, timeouts, a network
 * partition. Returns @dsn.
 */
char *vtpm_test_pg_tcp_dsn(const vtpm_test_pg *pg, const char *db, const char *password,
                           char *dsn, unsigned int size);

/*
 * Appends @conf_lines (NULL: none) to the cluster's postgresql.conf and puts
 * @hba_lines (NULL: none) before the rules of its pg_hba.conf (the first
 * matching rule wins), then restarts the cluster on the same port: for
 * settings a reload does not apply, and so that they are in force when this
 * returns. Lines end with a newline. Returns 0, or -1 with a message on stderr.
 */
int vtpm_test_pg_configure(vtpm_test_pg *pg, const char *conf_lines, const char *hba_lines);

/*
 * Copies file @src to @dst with mode @mode, owned by the owner of the
 * cluster's folder (its OS user: "postgres" when the tests run as root) if
 * @pg is not NULL, else by the caller. For what the server reads and wants
 * private (its TLS key: 0600), and for client keys that libpq refuses when
 * others may read them. Returns 0, or -1 with a message on stderr.
 */
int vtpm_test_copy_file(const vtpm_test_pg *pg, const char *src, const char *dst,
                        unsigned int mode);

/* Connects or aborts the test with a message. */
PGconn *vtpm_test_pg_connect(const char *dsn);

/* Runs @sql; returns the first value of the first row as a new string (free
 * it), "" for commands, or NULL on error (the message in @err if not NULL). */
char *vtpm_test_pg_value(PGconn *conn, const char *sql, char *err, unsigned int errlen);

/*
 * Runs @sql as @conn and writes to @out (@size bytes) its first value ("" when
 * it returns none), or, when it fails, "ERROR:" and its SQLSTATE
 * ("ERROR:42501"), for tests that check which refusal they get. Returns @out.
 */
const char *vtpm_test_pg_answer(PGconn *conn, const char *sql, char *out, size_t size);
/* Runs @sql, which answers one number (a count), and returns it; a failing
 * query fails the running cmocka test with its message. */
long long vtpm_test_pg_number(PGconn *conn, const char *sql);

/* The folder holding the migrations of the source tree. */
const char *vtpm_test_migrations_dir(void);


/*
 * Makes locale @name ("de_DE.UTF-8": language_TERRITORY.charmap) usable on
 * this machine, for a server's lc_messages: generates it with localedef
 * (Debian package locales, as root) when it is missing. Returns 0, or -1
 * with a message on stderr saying what to do.
 */
int vtpm_test_locale_ensure(const char *name);

/* Runs @argv and waits; returns its exit status, or -1. Output to @out if not NULL. */
int vtpm_test_spawn(char *const argv[], char *out, unsigned int outlen);

/*
 * Starts PgBouncer in transaction pooling (tests/fixtures/pgbouncer.sh) in
 * folder @dir (created) in front of @pg, through its Unix socket, letting
 * in the logins and passwords of @userlist ("\"login\" \"password\"" lines,
 * scram-sha-256). Writes "host=127.0.0.1 port=N" into @dsn (add dbname=,
 * user=, password=). Returns 0, or -1 with a message on stderr. Callers
 * check vtpm_test_require_program("/usr/sbin/pgbouncer", "pgbouncer") first.
 */
int vtpm_test_pgbouncer_start(const vtpm_test_pg *pg, const char *dir, const char *userlist,
                              char *dsn, unsigned int size);

/* Stops the PgBouncer of @dir and removes the folder; idempotent. */
void vtpm_test_pgbouncer_stop(const char *dir);

/* Whether the tests run through PgBouncer: VTPM_TEST_PGBOUNCER=1 (meson's
 * "-pgbouncer" variants of the publish and run tests). */
bool vtpm_test_through_pgbouncer(void);

#endif /* VTPM_TESTS_PG_FIXTURE_H */
