/* SPDX-License-Identifier: Apache-2.0 */
/* Migrations on a real PostgreSQL: from empty, re-run, edited file, failed file, races. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "migrate.h"
#include "pg_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char tmpdir[256];

static size_t
count_files(const char *dir)
{
    vtpm_migration_list list = { 0 };
    char err[512];
    size_t n;

    assert_int_equal(vtpm_migrate_status(NULL, dir, &list, err, sizeof(err)), 0);
    n = list.n;
    vtpm_migration_list_clear(&list);
    return n;
}

static void
new_db(const char *name, char *dsn, size_t size)
{
    assert_int_equal(vtpm_test_pg_create_db(&pg, name, dsn, (unsigned int)size), 0);
}

static void
copy_migrations(const char *to)
{
    char cmd_to[512];
    char src[1024];
    char *mk[] = { (char *)"mkdir", (char *)"-p", cmd_to, NULL };

    vtpm_strfmt(cmd_to, sizeof(cmd_to), "%s", to);
    assert_int_equal(vtpm_test_spawn(mk, NULL, 0), 0);
    vtpm_strfmt(src, sizeof(src), "%s/.", vtpm_test_migrations_dir());
    {
        char *cp[] = { (char *)"cp", (char *)"-R", src, cmd_to, NULL };

        assert_int_equal(vtpm_test_spawn(cp, NULL, 0), 0);
    }
}

static void
write_file(const char *path, const char *text, const char *mode)
{
    FILE *f = fopen(path, mode);

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_migrate_from_empty_database_applies_every_file(void **state)
{
    char dsn[512], err[1024];
    unsigned int applied = 99;
    PGconn *conn;
    char *v;

    (void)state;
    new_db("m_empty", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), 0);
    assert_int_equal(applied, count_files(vtpm_test_migrations_dir()));
    v = vtpm_test_pg_value(conn, "SELECT to_regprocedure('vtpm.publish(text,uuid,boolean,text,jsonb,jsonb)') IS NOT NULL", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm.traits WHERE bit IS NOT NULL", NULL, 0);
    assert_string_equal(v, "7");
    free(v);
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm_meta.migrations", NULL, 0);
    assert_int_equal(strtol(v, NULL, 10), (long)count_files(vtpm_test_migrations_dir()));
    free(v);
    PQfinish(conn);
}

static void
test_migrate_rerun_is_a_no_op(void **state)
{
    char dsn[512], err[1024];
    unsigned int applied = 0;
    PGconn *conn;
    char *before, *after;

    (void)state;
    new_db("m_rerun", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), 0);
    assert_true(applied > 0);
    before = vtpm_test_pg_value(conn, "SELECT string_agg(version || checksum || applied_at, ',' ORDER BY version) FROM vtpm_meta.migrations", NULL, 0);
    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), 0);
    assert_int_equal(applied, 0);
    after = vtpm_test_pg_value(conn, "SELECT string_agg(version || checksum || applied_at, ',' ORDER BY version) FROM vtpm_meta.migrations", NULL, 0);
    assert_string_equal(before, after);
    free(before);
    free(after);
    PQfinish(conn);
}

static void
test_migrate_refuses_an_edited_applied_file(void **state)
{
    char dsn[512], err[1024], dir[512], path[600];
    unsigned int applied = 0;
    vtpm_migration_list list = { 0 };
    PGconn *conn;
    char *v;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/edited", tmpdir);
    copy_migrations(dir);
    new_db("m_edited", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), 0);

    /* Edit an applied file and add a new one: nothing may be applied. */
    vtpm_strfmt(path, sizeof(path), "%s/0002_publish.sql", dir);
    write_file(path, "\n-- an innocent-looking edit\n", "a");
    vtpm_strfmt(path, sizeof(path), "%s/0999_later.sql", dir);
    write_file(path, "CREATE TABLE vtpm_meta.later (x int);\n", "w");
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'0002_publish.sql' was edited after it was applied"));
    assert_int_equal(applied, 0);
    v = vtpm_test_pg_value(conn, "SELECT to_regclass('vtpm_meta.later') IS NULL", NULL, 0);
    assert_string_equal(v, "t");
    free(v);

    assert_int_equal(vtpm_migrate_status(conn, dir, &list, err, sizeof(err)), 0);
    for (size_t i = 0; i < list.n; i++) {
        if (strcmp(list.items[i].name, "0002_publish.sql") == 0)
            assert_int_equal(list.items[i].state, VTPM_MIGRATION_EDITED);
        else if (strcmp(list.items[i].name, "0999_later.sql") == 0)
            assert_int_equal(list.items[i].state, VTPM_MIGRATION_PENDING);
        else
            assert_int_equal(list.items[i].state, VTPM_MIGRATION_APPLIED);
    }
    vtpm_migration_list_clear(&list);
    PQfinish(conn);
}

static void
test_migrate_failing_file_leaves_nothing_behind(void **state)
{
    char dsn[512], err[1024], dir[512], path[600];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/failing", tmpdir);
    copy_migrations(dir);
    vtpm_strfmt(path, sizeof(path), "%s/0998_broken.sql", dir);
    write_file(path, "CREATE TABLE vtpm.half (x int);\nSELECT 1/0;\n", "w");
    new_db("m_failing", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "migration '0998_broken.sql' failed"));
    assert_non_null(strstr(err, "division by zero"));
    /* The good files before it stay applied; the broken one left nothing. */
    assert_int_equal(applied, count_files(vtpm_test_migrations_dir()));
    v = vtpm_test_pg_value(conn, "SELECT to_regclass('vtpm.half') IS NULL AND NOT EXISTS (SELECT 1 FROM vtpm_meta.migrations WHERE version = 998)", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    PQfinish(conn);
}

/* A .sql file that is not named NNNN_name.sql stops the run instead of being
 * left out; other files and hidden ones are ignored. */
static void
test_migrate_refuses_a_misnamed_sql_file(void **state)
{
    static const char *const bad[] = { "8_fix.sql", "0008-fix.sql", "0008_Fix.sql", "0008_.sql" };
    char dsn[512], err[1024], dir[512], path[600];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/misnamed", tmpdir);
    copy_migrations(dir);
    vtpm_strfmt(path, sizeof(path), "%s/README", dir);
    write_file(path, "not a migration\n", "w");
    vtpm_strfmt(path, sizeof(path), "%s/.#0008_fix.sql", dir);
    write_file(path, "SELECT 1/0;\n", "w");
    vtpm_strfmt(path, sizeof(path), "%s/0008_fix.sql~", dir);
    write_file(path, "SELECT 1/0;\n", "w");
    new_db("m_misnamed", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[700];

        vtpm_strfmt(path, sizeof(path), "%s/%s", dir, bad[i]);
        write_file(path, "CREATE TABLE vtpm.misnamed (x int);\n", "w");
        err[0] = '\0';
        assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
        vtpm_strfmt(msg, sizeof(msg), "'%s' in '%s' is not named as a migration", bad[i], dir);
        assert_non_null(strstr(err, msg));
        assert_int_equal(unlink(path), 0);
    }
    v = vtpm_test_pg_value(conn, "SELECT to_regnamespace('vtpm') IS NULL", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    /* Without them: everything applies; README and the editor's files are ignored. */
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, count_files(vtpm_test_migrations_dir()));
    PQfinish(conn);
}

static void
test_migrate_concurrent_runs_apply_each_file_once(void **state)
{
    enum { RUNNERS = 6 };
    char dsn[512];
    pid_t pids[RUNNERS];
    unsigned int total = 0;
    int pipefd[2];
    PGconn *conn;
    char *v;

    (void)state;
    new_db("m_race", dsn, sizeof(dsn));
    assert_int_equal(pipe(pipefd), 0);
    for (int i = 0; i < RUNNERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char err[1024];
            unsigned int applied = 0;
            PGconn *c = PQconnectdb(dsn);
            int rc;

            PQclear(PQexec(c, "SET client_min_messages = warning"));
            rc = vtpm_migrate_apply(c, vtpm_test_migrations_dir(), &applied, err, sizeof(err));
            if (rc < 0)
                fprintf(stderr, "runner %d: %s\n", i, err);
            if (write(pipefd[1], &applied, sizeof(applied)) != sizeof(applied))
                rc = -1;
            PQfinish(c);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    close(pipefd[1]);
    for (int i = 0; i < RUNNERS; i++) {
        int status;
        unsigned int applied;

        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(read(pipefd[0], &applied, sizeof(applied)), sizeof(applied));
        total += applied;
    }
    close(pipefd[0]);
    assert_int_equal(total, count_files(vtpm_test_migrations_dir()));
    conn = vtpm_test_pg_connect(dsn);
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm_meta.migrations", NULL, 0);
    assert_int_equal(strtol(v, NULL, 10), (long)count_files(vtpm_test_migrations_dir()));
    free(v);
    PQfinish(conn);
}

/*
 * A new database @db migrated with the source tree's migrations that sort
 * before @first (a file name or its version prefix, "0012"), copied to @sub
 * of the test folder (path in @dir): an inventory as an older release left
 * it. Returns the superuser connection to it; its DSN goes to @dsn.
 */
static PGconn *
migrate_before(const char *sub, const char *db, const char *first, char *dir, size_t dirlen,
               char *dsn, size_t dsnlen)
{
    char err[1024], path[600];
    unsigned int applied = 0, removed = 0;
    struct dirent *e;
    PGconn *conn;
    DIR *d;

    vtpm_strfmt(dir, dirlen, "%s/%s", tmpdir, sub);
    copy_migrations(dir);
    assert_non_null(d = opendir(dir));
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, first) < 0)
            continue;
        vtpm_strfmt(path, sizeof(path), "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
        removed++;
    }
    closedir(d);
    assert_true(removed > 0);
    new_db(db, dsn, dsnlen);
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), 0);
    return conn;
}

/* An inventory with hosts, migrated to 0005, then to the newest: 0006 fills
 * vtpm.trait_index from the providers already there, and 0007's publish
 * carries on from 0005's state. */
static void
test_migrate_upgrade_fills_the_trait_index_from_existing_hosts(void **state)
{
    char dsn[512], err[1024], dir[512];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    conn = migrate_before("upgrade", "m_upgrade", "0006", dir, sizeof(dir), dsn, sizeof(dsn));
    v = vtpm_test_pg_value(conn,
        "SELECT count(p.*) FROM generate_series(0, 99) AS i, LATERAL vtpm.publish("
        "'up-' || i, NULL, false, NULL, (SELECT jsonb_object_agg(t.name, jsonb_build_object("
        "'present', (i >> t.bit) & 1 = 1, 'code', 'c', 'reason', 'r')) "
        "FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) AS p", NULL, 0);
    assert_string_equal(v, "100");
    free(v);
    v = vtpm_test_pg_value(conn, "SELECT to_regclass('vtpm.trait_index') IS NULL", NULL, 0);
    assert_string_equal(v, "t");
    free(v);

    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), 0);
    assert_true(applied >= 1);
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm.trait_index ti "
                                 "JOIN vtpm.resource_providers rp ON rp.id = ti.provider_id "
                                 "WHERE ti.tpm_bits = rp.tpm_bits AND ti.uuid = rp.uuid", NULL, 0);
    assert_string_equal(v, "100");
    free(v);
    /* Hosts 0-99 with bit i set as in i: TPM 2.0 (bit 1) on half of them. */
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0}')",
                           NULL, 0);
    assert_string_equal(v, "50");
    free(v);
    /* Host 1 had TPM 1.2 only; now 2.0 only: one change, generation 2. */
    v = vtpm_test_pg_value(conn,
        "SELECT p.status || ' ' || p.generation || ' ' || array_to_string(p.added, ',') || ' ' "
        "|| array_to_string(p.removed, ',') FROM vtpm.publish('up-1', NULL, false, NULL, "
        "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', t.bit = 1, 'code', 'c', "
        "'reason', 'r')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) AS p", NULL, 0);
    assert_string_equal(v, "changed 2 COMPUTE_SECURITY_TPM_2_0 COMPUTE_SECURITY_TPM_1_2");
    free(v);
    PQfinish(conn);
}

/*
 * Signs, as the superuser, a report of @host with its key at sequence
 * `pk.seq` (session settings pk.*), then publishes it as the shared login
 * pk_pool: the status, or "ERROR:<SQLSTATE>".
 */
static void
signed_publish_as_pool(PGconn *conn, const char *host, char *out, size_t size)
{
    char sql[4096];

    vtpm_strfmt(sql, sizeof(sql),
        "SELECT set_config('pk.key', k.key_id, false), set_config('pk.traits', "
        "       (SELECT jsonb_object_agg(t.name, jsonb_build_object('present', t.bit = 1, "
        "        'code', 'c', 'reason', 'r'))::text FROM vtpm.traits t WHERE t.bit IS NOT NULL), false)"
        "  FROM vtpm_keys.keys k WHERE k.host = '%s' AND k.secret IS NOT NULL;"
        "SELECT set_config('pk.sig', encode(vtpm_keys.hmac_sha256(k.secret, vtpm_keys.signed_message("
        "       k.key_id, current_setting('pk.seq'), '%s', '', 'false', '', current_setting('pk.traits'), "
        "       '')), 'hex'), false) FROM vtpm_keys.keys k WHERE k.key_id = current_setting('pk.key');"
        "SET ROLE pk_pool;"
        "SELECT status FROM vtpm.publish_signed(current_setting('pk.key'), current_setting('pk.seq'), "
        "       '%s', '', 'false', '', current_setting('pk.traits'), '', current_setting('pk.sig'))",
        host, host, host);
    vtpm_test_pg_answer(conn, sql, out, (unsigned int)size);
    free(vtpm_test_pg_value(conn, "RESET ROLE", NULL, 0));
}

/* 0012 moves the replay sequence from the host to its keys: the sequence a
 * host reached before carries over, so that its last report is still a replay. */
static void
test_migrate_keeps_the_replay_sequence_of_signed_hosts(void **state)
{
    char dsn[512], err[1024], dir[512], out[256];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    conn = migrate_before("perkey", "m_perkey", "0012", dir, sizeof(dir), dsn, sizeof(dsn));
    free(vtpm_test_pg_value(conn, "SELECT vtpm.pool_login('pk_pool')", NULL, 0));
    free(vtpm_test_pg_value(conn, "SELECT key_id FROM vtpm.host_key_create('pk-a')", NULL, 0));
    free(vtpm_test_pg_value(conn, "SELECT set_config('pk.seq', ((extract(epoch FROM clock_timestamp()) "
                                  "* 1000000)::bigint)::text, false)", NULL, 0));
    signed_publish_as_pool(conn, "pk-a", out, sizeof(out));
    assert_string_equal(out, "changed");

    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), 0);
    assert_true(applied >= 1);
    v = vtpm_test_pg_value(conn, "SELECT last_seq = current_setting('pk.seq')::bigint "
                                 "FROM vtpm.host_keys WHERE host = 'pk-a'", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    /* The same report again: a replay, refused. */
    signed_publish_as_pool(conn, "pk-a", out, sizeof(out));
    assert_string_equal(out, "ERROR:42501");
    /* A newer one goes through. */
    free(vtpm_test_pg_value(conn, "SELECT set_config('pk.seq', (current_setting('pk.seq')::bigint + 1)::text, "
                                  "false)", NULL, 0));
    signed_publish_as_pool(conn, "pk-a", out, sizeof(out));
    assert_string_equal(out, "unchanged");
    PQfinish(conn);
}

/* 0007 writes the managed traits into vtpm.publish(): it refuses an inventory
 * whose vtpm.traits says something else, and leaves 0006's function working. */
static void
test_migrate_publish_refuses_a_changed_managed_trait_list(void **state)
{
    char dsn[512], err[1024], dir[512];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    conn = migrate_before("traits", "m_traits", "0007", dir, sizeof(dir), dsn, sizeof(dsn));
    v = vtpm_test_pg_value(conn, "INSERT INTO vtpm.traits (name, bit) VALUES ('CUSTOM_EXTRA', 7)",
                           NULL, 0);
    assert_non_null(v);
    free(v);

    assert_int_equal(vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err,
                                        sizeof(err)), -1);
    assert_non_null(strstr(err, "migration '0007_publish_validate.sql' failed"));
    assert_non_null(strstr(err, "does not hold the seven managed traits"));
    v = vtpm_test_pg_value(conn, "SELECT count(*) FROM vtpm_meta.migrations WHERE version = 7", NULL, 0);
    assert_string_equal(v, "0");
    free(v);
    /* The previous function still publishes. */
    v = vtpm_test_pg_value(conn,
        "SELECT status FROM vtpm.publish('t-1', NULL, true, 'probe failed', '{}', NULL)", NULL, 0);
    assert_string_equal(v, "inconclusive");
    free(v);
    PQfinish(conn);
}

static void
test_migrate_cli_reports_unreachable_database(void **state)
{
    char exe[1024], out[1024];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *argv[] = { exe, (char *)"--dsn",
                     (char *)"host=/nonexistent port=1 password=hunter2 connect_timeout=2",
                     (char *)"migrate", NULL };

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 5);
}

/* --version and --help answer on stdout with status 0; a wrong option is a usage error. */
static void
test_migrate_cli_prints_version_and_help(void **state)
{
    char exe[1024], out[2048];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *version[] = { exe, (char *)"--version", NULL };
    char *help[] = { exe, (char *)"-h", NULL };
    char *wrong[] = { exe, (char *)"--no-such-option", NULL };

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    assert_int_equal(vtpm_test_spawn(version, out, sizeof(out)), 0);
    assert_true(strncmp(out, "vtpm-inventory ", 15) == 0 && out[15] >= '0' && out[15] <= '9');
    assert_int_equal(vtpm_test_spawn(help, out, sizeof(out)), 0);
    assert_true(strncmp(out, "usage: vtpm-inventory", 21) == 0);
    assert_non_null(strstr(out, "bind-reporter LOGIN HOST"));
    assert_int_equal(vtpm_test_spawn(wrong, out, sizeof(out)), 2);
    assert_string_equal(out, "");
}

/* bind-reporter: what it says, with names shown escaped (a host name may
 * carry any byte the database refuses). */
static void
test_migrate_cli_binds_a_reporter_and_quotes_names(void **state)
{
    char dsn[512], err[1024], exe[1024], out[1024];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                     (char *)vtpm_test_migrations_dir(), (char *)"bind-reporter",
                     (char *)"rep_cli", (char *)"host-1", NULL };
    char *migrate[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                        (char *)vtpm_test_migrations_dir(), (char *)"migrate", NULL };
    bool created = true;
    PGconn *conn;

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    new_db("m_bind", dsn, sizeof(dsn));
    assert_int_equal(vtpm_test_spawn(migrate, NULL, 0), 0);
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    assert_string_equal(out, "login 'rep_cli' is now bound to host 'host-1'\n");
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    assert_string_equal(out, "login 'rep_cli' was already bound to host 'host-1'\n");

    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_reporter_bind(conn, "rep_cli", "bad\001host", NULL, NULL, &created, err,
                                        sizeof(err)), -1);
    assert_false(created);
    assert_non_null(strstr(err, "cannot bind login 'rep_cli' to host 'bad\\x01host': "
                                "invalid host name"));
    PQfinish(conn);
}

/* bind-reporter --uuid: the host's provider gets the owner's UUID, and keeps it. */
static void
test_migrate_cli_binds_a_reporter_with_the_host_uuid(void **state)
{
    char dsn[512], exe[1024], out[1024];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                     (char *)vtpm_test_migrations_dir(), (char *)"bind-reporter",
                     (char *)"rep_uuid", (char *)"host-u", (char *)"--uuid",
                     (char *)"0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b", NULL };
    char *migrate[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                        (char *)vtpm_test_migrations_dir(), (char *)"migrate", NULL };
    PGconn *conn;
    char *v;

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    new_db("m_bind_uuid", dsn, sizeof(dsn));
    assert_int_equal(vtpm_test_spawn(migrate, NULL, 0), 0);
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    conn = vtpm_test_pg_connect(dsn);
    v = vtpm_test_pg_value(conn, "SELECT uuid FROM vtpm.resource_providers WHERE name = 'host-u'", NULL, 0);
    assert_non_null(v);
    assert_string_equal(v, "0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b");
    free(v);
    PQfinish(conn);
    /* Another UUID for the same host, or not a UUID: refused. */
    argv[9] = (char *)"11111111-2222-4333-8444-555555555555";
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 1);
    argv[9] = (char *)"not-a-uuid";
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 1);
}

/* bind-reporter --password-file: a file group or others may read is refused,
 * saying which and why, before anything is created; mode 0600 is taken. */
static void
test_migrate_cli_refuses_a_password_file_others_may_read(void **state)
{
    char dsn[512], exe[1024], out[1024], pwfile[512];
    const char *build = getenv("VTPM_BUILD_ROOT");
    /* Through sh for stderr, where the refusal goes. */
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)"exec \"$0\" \"$@\" 2>&1", exe,
                     (char *)"--dsn", dsn, (char *)"--password-file", pwfile,
                     (char *)"bind-reporter", (char *)"rep_pw", (char *)"host-pw", NULL };
    char *migrate[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                        (char *)vtpm_test_migrations_dir(), (char *)"migrate", NULL };
    static const unsigned int modes[] = { 0644, 0640, 0604, 0620 };
    char expected[600], *v;
    FILE *f;
    PGconn *conn;

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    vtpm_strfmt(pwfile, sizeof(pwfile), "%s/reporter.password", tmpdir);
    new_db("m_pwfile", dsn, sizeof(dsn));
    assert_int_equal(vtpm_test_spawn(migrate, NULL, 0), 0);
    assert_non_null(f = fopen(pwfile, "w"));
    assert_true(fputs("s3cret\n", f) >= 0);
    assert_int_equal(fclose(f), 0);
    conn = vtpm_test_pg_connect(dsn);

    for (size_t i = 0; i < VTPM_N_ELEMENTS(modes); i++) {
        assert_int_equal(chmod(pwfile, modes[i]), 0);
        assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 1);
        vtpm_strfmt(expected, sizeof(expected), "password file '%s' is %s by others (mode %04o)",
                    pwfile, modes[i] & 044 ? "readable" : "writable", modes[i]);
        if (!strstr(out, expected))
            fail_msg("mode %04o: expected \"%s\" in \"%s\"", modes[i], expected, out);
        v = vtpm_test_pg_value(conn, "SELECT count(*) FROM pg_roles WHERE rolname = 'rep_pw'",
                               NULL, 0);
        assert_string_equal(v, "0");
        free(v);
    }

    assert_int_equal(chmod(pwfile, 0600), 0);
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    assert_string_equal(out, "login 'rep_pw' is now bound to host 'host-pw'\n");
    PQfinish(conn);
}

/* A file that ends the migration's transaction part-way is refused before
 * any of it runs: what came before its COMMIT would stay, unrecorded. */
static void
test_migrate_refuses_a_file_that_ends_its_transaction(void **state)
{
    static const char *const bodies[] = {
        "CREATE TABLE vtpm.early (x int);\nCOMMIT;\nCREATE TABLE vtpm.late (x int);\n",
        "CREATE TABLE vtpm.early (x int);\n  -- the end\n  end;\n",
        "CREATE TABLE vtpm.early (x int); ROLLBACK; BEGIN;\n",
        "CREATE TABLE vtpm.early (x int);\n/* done */ PREPARE TRANSACTION 'x';\n",
    };
    char dsn[512], err[1024], dir[512], path[600];
    unsigned int applied = 0;
    PGconn *conn;
    char *v;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/commit", tmpdir);
    copy_migrations(dir);
    new_db("m_commit", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), 0);
    vtpm_strfmt(path, sizeof(path), "%s/0999_ends_early.sql", dir);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        write_file(path, bodies[i], "w");
        err[0] = '\0';
        assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
        if (!strstr(err, "would end the migration's transaction part-way"))
            fail_msg("case %zu: %s", i, err);
        v = vtpm_test_pg_value(conn, "SELECT to_regclass('vtpm.early') IS NULL", NULL, 0);
        assert_string_equal(v, "t");
        free(v);
    }
    /* The same words in comments, strings, identifiers and bodies are not statements. */
    write_file(path, "-- COMMIT;\n/* ROLLBACK; /* nested */ END; */\n"
               "CREATE TABLE vtpm.early (\"commit\" text DEFAULT 'x; COMMIT;', y text DEFAULT E'\\'; END;');\n"
               "CREATE FUNCTION vtpm.f() RETURNS int LANGUAGE plpgsql AS $b$ BEGIN RETURN 1; END $b$;\n"
               "CREATE FUNCTION vtpm.g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n"
               "SELECT 1 AS begin;\n", "w");
    err[0] = '\0';
    if (vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)) != 0)
        fail_msg("a clean file was refused: %s", err);
    assert_int_equal(applied, 1);
    PQfinish(conn);
}

/* A migrations folder entry that is not a regular file (a FIFO would make
 * migrate wait forever) is refused at once. */
static void
test_migrate_refuses_an_entry_that_is_not_a_regular_file(void **state)
{
    char dsn[512], err[1024], dir[512], path[600];
    unsigned int applied = 0;
    double start;
    PGconn *conn;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/fifo", tmpdir);
    copy_migrations(dir);
    vtpm_strfmt(path, sizeof(path), "%s/0999_fifo.sql", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    new_db("m_fifo", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    start = vtpm_clock_now();
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
    assert_true(vtpm_clock_now() - start < 10);
    assert_non_null(strstr(err, "is not a regular file"));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a regular file"));
    PQfinish(conn);
}

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/vtpm-migtest-XXXXXX";

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    vtpm_strfmt(tmpdir, sizeof(tmpdir), "%s", tmpl);
    return vtpm_test_pg_start(&pg);
}

static int
group_teardown(void **state)
{
    char *rm[] = { (char *)"rm", (char *)"-rf", tmpdir, NULL };

    (void)state;
    vtpm_test_pg_destroy(&pg);
    if (tmpdir[0])
        vtpm_test_spawn(rm, NULL, 0);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_from_empty_database_applies_every_file),
        cmocka_unit_test(test_migrate_rerun_is_a_no_op),
        cmocka_unit_test(test_migrate_refuses_an_edited_applied_file),
        cmocka_unit_test(test_migrate_failing_file_leaves_nothing_behind),
        cmocka_unit_test(test_migrate_refuses_a_misnamed_sql_file),
        cmocka_unit_test(test_migrate_refuses_a_file_that_ends_its_transaction),
        cmocka_unit_test(test_migrate_refuses_an_entry_that_is_not_a_regular_file),
        cmocka_unit_test(test_migrate_concurrent_runs_apply_each_file_once),
        cmocka_unit_test(test_migrate_upgrade_fills_the_trait_index_from_existing_hosts),
        cmocka_unit_test(test_migrate_publish_refuses_a_changed_managed_trait_list),
        cmocka_unit_test(test_migrate_cli_reports_unreachable_database),
        cmocka_unit_test(test_migrate_cli_binds_a_reporter_and_quotes_names),
        cmocka_unit_test(test_migrate_cli_binds_a_reporter_with_the_host_uuid),
        cmocka_unit_test(test_migrate_cli_refuses_a_password_file_others_may_read),
        cmocka_unit_test(test_migrate_cli_prints_version_and_help),
        cmocka_unit_test(test_migrate_keeps_the_replay_sequence_of_signed_hosts),
    };

    return cmocka_run_group_tests_name("migrate", tests, group_setup, group_teardown);
}
