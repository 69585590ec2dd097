/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing with synchronous_commit on or off: a database crash loses whole reports or none, never part of one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "util.h"

enum { HOSTS = 8, REPORTS = 600 };

static vtpm_test_pg pg;
static char db_dsn[512];

static void
report_init(vtpm_report *r, const char *host, vtpm_traitset present, unsigned int serial)
{
    vtpm_test_report_init(r, host, present);
    /* A reason that changes with every report, so that reasons are written too. */
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        vtpm_strfmt(r->traits[t].reason, sizeof(r->traits[t].reason), "report %u", serial);
}

static long long
query_ll(PGconn *conn, const char *sql, const char *param)
{
    const char *values[1] = { param };
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
    long long v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "query failed: %s", PQerrorMessage(conn));
        PQclear(res);
        fail();
    }
    v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/*
 * Everything publish() writes for @host agrees with its last stored report:
 * the trait mask, the managed rows of provider_traits, the generation, the
 * reasons, and the history is a chain in which the generation moves by one
 * exactly when the trait set moved.
 */
static void
assert_host_consistent(PGconn *conn, const char *host)
{
    const char *values[1] = { host };
    PGresult *res;
    long long gen = 0, mask = 0;

    res = PQexecParams(conn, "SELECT generation, vtpm.trait_mask(present) FROM vtpm.reports "
                             "WHERE host = $1 ORDER BY id", 1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) > 0);
    for (int i = 0; i < PQntuples(res); i++) {
        long long g = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        long long m = strtoll(PQgetvalue(res, i, 1), NULL, 10);

        assert_int_equal(g, m != mask ? gen + 1 : gen);
        gen = g;
        mask = m;
    }
    PQclear(res);
    assert_int_equal(query_ll(conn, "SELECT tpm_bits FROM vtpm.resource_providers WHERE name = $1", host),
                     mask);
    assert_int_equal(query_ll(conn, "SELECT generation FROM vtpm.resource_providers WHERE name = $1", host),
                     gen);
    assert_int_equal(query_ll(conn, "SELECT coalesce(bit_or(1 << t.bit), 0) FROM vtpm.provider_traits pt "
                                    "JOIN vtpm.traits t ON t.id = pt.trait_id JOIN vtpm.resource_providers rp "
                                    "ON rp.id = pt.provider_id WHERE rp.name = $1 AND t.bit IS NOT NULL", host),
                     mask);
    /* The reasons are those of the last report, one row per managed trait. */
    assert_int_equal(query_ll(conn,
        "SELECT count(*) FROM vtpm.provider_trait_state s JOIN vtpm.traits t ON t.id = s.trait_id "
        "JOIN vtpm.resource_providers rp ON rp.id = s.provider_id "
        "JOIN LATERAL (SELECT r.traits FROM vtpm.reports r WHERE r.provider_id = rp.id "
        "              ORDER BY r.id DESC LIMIT 1) last ON true "
        "WHERE rp.name = $1 AND s.present = (last.traits -> t.name -> 'present')::boolean "
        "AND s.present = (rp.tpm_bits & (1 << t.bit) <> 0) "
        "AND s.reason = last.traits -> t.name ->> 'reason'", host), VTPM_TRAIT_COUNT);
}

static void
crash_after_a_burst(const char *mode)
{
    char dsn[700], host[64], value[64];
    vtpm_traitset last[HOSTS];
    long long acked[HOSTS] = { 0 }, stored = 0, total = 0;
    unsigned int seed = 0xc0ffee;
    vtpm_publish_result res;
    vtpm_report r;
    PGconn *conn, *admin;
    PGresult *show;

    /* How an operator chooses: libpq's options in the reporter's DSN. */
    vtpm_strfmt(dsn, sizeof(dsn), "%s options='-c synchronous_commit=%s'", db_dsn, mode);
    conn = vtpm_test_pg_connect(dsn);
    show = PQexec(conn, "SHOW synchronous_commit");
    vtpm_strfmt(value, sizeof(value), "%s", PQgetvalue(show, 0, 0));
    PQclear(show);
    assert_string_equal(value, mode);

    for (unsigned int i = 0; i < REPORTS; i++) {
        int h = (int)(i % HOSTS);
        vtpm_traitset set = (vtpm_traitset)(rand_r(&seed) % 4);

        vtpm_strfmt(host, sizeof(host), "crash-%s-%d", mode, h);
        report_init(&r, host, set, i);
        if (vtpm_pg_publish_conn(conn, &r, &res) > VTPM_PUBLISH_INCONCLUSIVE) {
            fprintf(stderr, "publish: %s\n", res.message);
            fail();
        }
        acked[h]++;
        last[h] = set;
    }
    /* At once: with synchronous_commit off, the last commits are still in
     * the server's memory. */
    assert_int_equal(vtpm_test_pg_crash(&pg), 0);
    PQfinish(conn);
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);

    admin = vtpm_test_pg_connect(db_dsn);
    for (int h = 0; h < HOSTS; h++) {
        long long n;

        vtpm_strfmt(host, sizeof(host), "crash-%s-%d", mode, h);
        n = query_ll(admin, "SELECT count(*) FROM vtpm.reports WHERE host = $1", host);
        assert_true(n <= acked[h]);
        if (strcmp(mode, "on") == 0) {
            /* Acknowledged means written: nothing is lost. */
            assert_int_equal(n, acked[h]);
            assert_int_equal(query_ll(admin, "SELECT tpm_bits FROM vtpm.resource_providers "
                                             "WHERE name = $1", host), (long long)last[h]);
        }
        stored += n;
        total += acked[h];
        assert_host_consistent(admin, host);
    }
    print_message("# synchronous_commit=%s: %lld of %lld acknowledged reports survived the crash\n",
                  mode, stored, total);

    /* The next timer run republishes the state and the inventory has it. */
    for (int h = 0; h < HOSTS; h++) {
        vtpm_strfmt(host, sizeof(host), "crash-%s-%d", mode, h);
        report_init(&r, host, last[h], REPORTS);
        assert_true(vtpm_pg_publish(dsn, &r, &res) <= VTPM_PUBLISH_UNCHANGED);
        assert_int_equal(query_ll(admin, "SELECT tpm_bits FROM vtpm.resource_providers WHERE name = $1",
                                  host), (long long)last[h]);
        assert_host_consistent(admin, host);
    }
    PQfinish(admin);
}

static void
test_commit_on_crash_keeps_every_acknowledged_report(void **state)
{
    (void)state;
    crash_after_a_burst("on");
}

static void
test_commit_off_crash_loses_whole_reports_never_part_of_one(void **state)
{
    (void)state;
    crash_after_a_burst("off");
}

static int
group_setup(void **state)
{
    PGconn *admin;
    int rc;

    (void)state;
    rc = vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin);
    PQfinish(admin);
    return rc;
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
        cmocka_unit_test(test_commit_on_crash_keeps_every_acknowledged_report),
        cmocka_unit_test(test_commit_off_crash_loses_whole_reports_never_part_of_one),
    };

    return cmocka_run_group_tests_name("commit", tests, group_setup, group_teardown);
}
