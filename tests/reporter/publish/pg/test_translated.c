/* SPDX-License-Identifier: Apache-2.0 */
/* Failures are classified alike whether the server speaks English or German (lc_messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vtpm/inventory.h>

#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "util.h"

#define GERMAN "de_DE.UTF-8"
/* The server's German messages: PostgreSQL 15's catalogue, in package postgresql-15. */
#define GERMAN_CATALOGUE "/usr/share/locale/de/LC_MESSAGES/postgres-15.mo"

/* What is wrong with the connection, one case each. */
typedef enum {
    CASE_WRONG_PASSWORD,    /* 28P01, before the server knows the database */
    CASE_NO_DATABASE,       /* 3D000 */
    CASE_NO_PRIVILEGE,      /* 42501: a login that is neither reporter nor reader */
    CASE_NO_SCHEMA,         /* 3F000: a database that was never migrated */
    CASE_TOO_MANY,          /* 53300: a login whose connection limit is used up */
    CASE_LAST
} failure_case;

static const char *const case_names[CASE_LAST] = {
    "wrong password", "no database", "no privilege", "no schema", "too many connections",
};

/* What the users of the classifier made of each case. */
typedef struct {
    vtpm_publish_status publish[CASE_LAST];
    char publish_message[CASE_LAST][512];
    vtpm_status cache[CASE_LAST];
    char cache_message[CASE_LAST][512];
    int cli[CASE_LAST];     /* exit status of vtpm-inventory status */
} observed;

static vtpm_test_pg pg;
static char db_dsn[512];          /* superuser */

static char *
case_dsn(failure_case c, char *dsn, unsigned int size)
{
    switch (c) {
    case CASE_WRONG_PASSWORD: return vtpm_test_pg_tcp_dsn(&pg, "vtpm_test", "wrong", dsn, size);
    case CASE_NO_DATABASE: return vtpm_test_pg_dsn(&pg, "no_such_db", NULL, dsn, size);
    case CASE_NO_PRIVILEGE: return vtpm_test_pg_dsn(&pg, "vtpm_test", "plain_login", dsn, size);
    case CASE_NO_SCHEMA: return vtpm_test_pg_dsn(&pg, "never_migrated", NULL, dsn, size);
    case CASE_TOO_MANY: return vtpm_test_pg_dsn(&pg, "vtpm_test", "full_login", dsn, size);
    case CASE_LAST: break;
    }
    fail();
    return NULL;
}

/* Sets the server's lc_messages; returns once new sessions use it. */
static void
server_language_set(const char *lc)
{
    PGconn *admin = vtpm_test_pg_connect(db_dsn);
    char sql[128], *v;

    vtpm_strfmt(sql, sizeof(sql), "ALTER SYSTEM SET lc_messages = '%s'", lc);
    free(vtpm_test_pg_value(admin, sql, NULL, 0));
    free(vtpm_test_pg_value(admin, "SELECT pg_reload_conf()", NULL, 0));
    PQfinish(admin);
    for (int i = 0; i < 100; i++) {
        PGconn *conn = vtpm_test_pg_connect(db_dsn);
        bool done;

        v = vtpm_test_pg_value(conn, "SHOW lc_messages", NULL, 0);
        done = v && strcmp(v, lc) == 0;
        free(v);
        PQfinish(conn);
        if (done)
            return;
        usleep(50000);
    }
    fail_msg("the server did not take lc_messages = '%s'", lc);
}

static void
observe(observed *o)
{
    const char *build = getenv("VTPM_BUILD_ROOT");
    char exe[1024], dsn[512];
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"status", NULL };

    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    memset(o, 0, sizeof(*o));
    for (int c = 0; c < CASE_LAST; c++) {
        vtpm_publish_result res;
        vtpm_error err = { 0 };
        vtpm_inventory *inv;
        vtpm_report r;

        case_dsn((failure_case)c, dsn, sizeof(dsn));
        vtpm_test_report_init(&r, "translated-host", 0);
        o->publish[c] = vtpm_pg_publish(dsn, &r, &res);
        vtpm_strfmt(o->publish_message[c], sizeof(o->publish_message[c]), "%s", res.message);
        inv = vtpm_inventory_open(dsn, 0, &err);
        o->cache[c] = inv ? VTPM_OK : err.status;
        vtpm_strfmt(o->cache_message[c], sizeof(o->cache_message[c]), "%s", err.message);
        vtpm_inventory_close(inv);
        o->cli[c] = vtpm_test_spawn(argv, NULL, 0);
    }
}

/* The classes every user gives each case, in any language. */
static void
assert_classes(const observed *o)
{
    static const vtpm_publish_status publish[CASE_LAST] = {
        VTPM_PUBLISH_REFUSED, VTPM_PUBLISH_CONFIG, VTPM_PUBLISH_REFUSED, VTPM_PUBLISH_REFUSED,
        VTPM_PUBLISH_UNREACHABLE,
    };
    static const vtpm_status cache[CASE_LAST] = {
        VTPM_ERR_DATABASE, VTPM_ERR_DATABASE, VTPM_ERR_DATABASE, VTPM_ERR_DATABASE,
        VTPM_ERR_UNREACHABLE,
    };

    for (int c = 0; c < CASE_LAST; c++) {
        if (o->publish[c] != publish[c] || o->cache[c] != cache[c])
            fail_msg("%s: publish %d (want %d: %s), cache %d (want %d: %s)", case_names[c],
                     o->publish[c], publish[c], o->publish_message[c], o->cache[c], cache[c],
                     o->cache_message[c]);
        /* What verbosity VERBOSE adds to find the codes never shows. */
        assert_null(strstr(o->publish_message[c], "28P01"));
        assert_null(strstr(o->publish_message[c], ".c:"));
    }
    /* The cache words the two it tells apart by their code. */
    assert_non_null(strstr(o->cache_message[CASE_NO_PRIVILEGE], "grant it vtpm_reader"));
    assert_non_null(strstr(o->cache_message[CASE_NO_SCHEMA], "run vtpm-inventory migrate"));
    /* vtpm-inventory: 5 only for what a retry may cure. */
    assert_int_equal(o->cli[CASE_WRONG_PASSWORD], 1);
    assert_int_equal(o->cli[CASE_NO_DATABASE], 1);
    assert_int_equal(o->cli[CASE_TOO_MANY], 5);
}

static void
test_translated_failures_are_classified_as_in_english(void **state)
{
    observed *english = calloc(1, sizeof(*english)), *german = calloc(1, sizeof(*german));

    (void)state;
    assert_non_null(english);
    assert_non_null(german);
    server_language_set("C");
    observe(english);
    server_language_set(GERMAN);
    observe(german);
    server_language_set("C");

    /* Neither passes vacuously: the server really spoke each language. */
    assert_non_null(strstr(english->publish_message[CASE_WRONG_PASSWORD],
                           "password authentication failed"));
    assert_non_null(strstr(german->publish_message[CASE_WRONG_PASSWORD],
                           "Passwort-Authentifizierung"));
    assert_non_null(strstr(english->publish_message[CASE_NO_DATABASE], "does not exist"));
    assert_non_null(strstr(german->publish_message[CASE_NO_DATABASE], "existiert nicht"));
    assert_non_null(strstr(german->cache_message[CASE_NO_PRIVILEGE], "keine Berechtigung"));
    assert_non_null(strstr(german->publish_message[CASE_TOO_MANY], "zu viele Verbindungen"));

    assert_classes(english);
    assert_classes(german);
    for (int c = 0; c < CASE_LAST; c++)
        assert_int_equal(german->cli[c], english->cli[c]);
    free(english);
    free(german);
}

static int
group_setup(void **state)
{
    char dsn[512];
    PGconn *admin;

    (void)state;
    if (vtpm_test_locale_ensure(GERMAN) < 0)
        return -1;
    if (access(GERMAN_CATALOGUE, R_OK) < 0) {
        fprintf(stderr, "no German messages for the server ('%s'): install postgresql-15 "
                "with its translations (scripts/setup.sh)\n", GERMAN_CATALOGUE);
        return -1;
    }
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0 ||
        vtpm_test_pg_create_db(&pg, "never_migrated", dsn, sizeof(dsn)) < 0)
        return -1;
    free(vtpm_test_pg_value(admin, "ALTER ROLE postgres PASSWORD 'right'", NULL, 0));
    free(vtpm_test_pg_value(admin, "CREATE ROLE plain_login LOGIN", NULL, 0));
    free(vtpm_test_pg_value(admin, "CREATE ROLE full_login LOGIN CONNECTION LIMIT 0", NULL, 0));
    PQfinish(admin);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    vtpm_test_pg_destroy(&pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translated_failures_are_classified_as_in_english),
    };

    return cmocka_run_group_tests_name("translated", tests, group_setup, group_teardown);
}
