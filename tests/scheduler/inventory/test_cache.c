/* SPDX-License-Identifier: Apache-2.0 */
/* libvtpm-inventory against a real PostgreSQL: loads, notifications, spoofing, outages, roles. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vtpm/inventory.h>

#include "clock.h"
#include "inventory-priv.h"
#include "migrate.h"
#include "trait.h"
#include "pg_fixture.h"
#include "util.h"

enum { RANDOM_HOSTS = 500 };

static vtpm_test_pg pg;
static char db_dsn[512];          /* superuser, the test database */
static PGconn *admin;             /* superuser connection to it */

/* Publishes the traits of @bits for every host of $1 (text[]) paired with $2 (int[]). */
#define PUBLISH_SQL \
    "SELECT p.generation FROM unnest($1::text[], $2::int[]) AS s(host, bits), " \
    "LATERAL vtpm.publish(s.host, NULL, false, NULL, " \
    "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', (s.bits >> t.bit) & 1 = 1, " \
    "'code', 'ok', 'reason', 'test')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) AS p"

/* Runs @sql with text parameters on @conn and expects rows or a command; returns the result. */
static PGresult *
query(PGconn *conn, const char *sql, int n, const char *const *values)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "query failed: %s: %s", sql, PQerrorMessage(conn));
        PQclear(res);
        fail();
    }
    return res;
}

/* Publishes @host with @bits through vtpm.publish(); returns its generation. */
static long long
publish(const char *host, vtpm_traitset bits)
{
    char hosts[300], masks[32];
    const char *values[2] = { hosts, masks };
    PGresult *res;
    long long gen;

    vtpm_strfmt(hosts, sizeof(hosts), "{\"%s\"}", host);
    vtpm_strfmt(masks, sizeof(masks), "{%u}", (unsigned int)bits);
    res = query(admin, PUBLISH_SQL, 2, values);
    gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return gen;
}

/* Runs @sql (no parameters, maybe several statements) on the test database as the superuser. */
static void
exec_sql(const char *sql)
{
    PGresult *res = PQexec(admin, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "statement failed: %s: %s", sql, PQerrorMessage(admin));
        PQclear(res);
        fail();
    }
    PQclear(res);
}

static vtpm_uuid
uuid_of(const char *host)
{
    const char *values[1] = { host };
    PGresult *res = query(admin, "SELECT uuid::text FROM vtpm.resource_providers WHERE name = $1",
                          1, values);
    vtpm_uuid uuid;

    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, 0, 0), &uuid, NULL), VTPM_OK);
    PQclear(res);
    return uuid;
}

static long long
db_generation(const char *host)
{
    const char *values[1] = { host };
    PGresult *res = query(admin, "SELECT generation FROM vtpm.resource_providers WHERE name = $1",
                          1, values);
    long long gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

    PQclear(res);
    return gen;
}

static vtpm_inventory *
open_ok(const char *dsn)
{
    vtpm_error err = { 0 };
    vtpm_inventory *inv = vtpm_inventory_open(dsn, 0, &err);

    if (!inv)
        fprintf(stderr, "cannot open the inventory: %s\n", err.message);
    assert_non_null(inv);
    return inv;
}

/* Expects vtpm_inventory_open(@dsn) to fail with @status and a message holding @needle. */
static void
assert_open_fails(const char *dsn, vtpm_status status, const char *needle)
{
    vtpm_error err = { 0 };
    vtpm_inventory *inv = vtpm_inventory_open(dsn, 0, &err);

    if (inv || err.status != status || !strstr(err.message, needle)) {
        fprintf(stderr, "expected status %d with '%s', got %d: %s\n", (int)status, needle,
                (int)err.status, err.message);
        vtpm_inventory_close(inv);
        fail();
    }
}

/* Every provider of the table is in @inv with the same bits and generation, and no other. */
static void
assert_cache_equals_table(const vtpm_inventory *inv)
{
    PGresult *res = query(admin, "SELECT uuid::text, tpm_bits, generation "
                                 "FROM vtpm.resource_providers", 0, NULL);

    assert_int_equal(vtpm_inventory_size(inv), (size_t)PQntuples(res));
    for (int r = 0; r < PQntuples(res); r++) {
        vtpm_uuid uuid;
        vtpm_traitset bits = 0;
        int64_t gen = -1;

        assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, r, 0), &uuid, NULL), VTPM_OK);
        assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
        assert_int_equal(bits, strtoull(PQgetvalue(res, r, 1), NULL, 10));
        assert_int_equal(gen, strtoll(PQgetvalue(res, r, 2), NULL, 10));
    }
    PQclear(res);
}

/* The inventory's clock in these tests: stopped, moved on only by the test. */
static int64_t clock_skip_ms, clock_start_ms;

static int64_t
test_clock(void)
{
    return clock_start_ms + clock_skip_ms;
}

/* Gives @inv the stopped clock, at the real time (its last load is not later). */
static void
use_test_clock(vtpm_inventory *inv)
{
    clock_start_ms = (int64_t)(vtpm_clock_now() * 1000);
    clock_skip_ms = 0;
    vtpm_inventory_set_clock(inv, test_clock);
}

/* Refreshes until @inv holds @uuid at @generation; fails after 10 s. */
static void
refresh_until_generation(vtpm_inventory *inv, const vtpm_uuid *uuid, int64_t generation)
{
    double deadline = vtpm_clock_now() + 10;
    int64_t gen = -1;

    while (!vtpm_inventory_lookup(inv, uuid, NULL, &gen) || gen != generation) {
        vtpm_error err = { 0 };
        vtpm_status st = vtpm_inventory_refresh(inv, 200, &err);

        if (st != VTPM_OK)
            fprintf(stderr, "refresh: %s\n", err.message);
        assert_int_equal(st, VTPM_OK);
        if (vtpm_clock_now() > deadline) {
            fprintf(stderr, "generation %lld never showed (cache has %lld)\n",
                    (long long)generation, (long long)gen);
            fail();
        }
    }
}

/* Refreshes until counter @which has grown by @by; fails after 10 s. */
static void
refresh_until_counter(vtpm_inventory *inv, vtpm_inventory_counter_id which, uint64_t by)
{
    uint64_t target = vtpm_inventory_counter(inv, which) + by;
    double deadline = vtpm_clock_now() + 10;

    while (vtpm_inventory_counter(inv, which) < target) {
        assert_int_equal(vtpm_inventory_refresh(inv, 200, NULL), VTPM_OK);
        if (vtpm_clock_now() > deadline) {
            fprintf(stderr, "counter %d stayed at %llu, waited for %llu\n", (int)which,
                    (unsigned long long)vtpm_inventory_counter(inv, which),
                    (unsigned long long)target);
            fail();
        }
    }
}

/* Creates database @name, migrated when @migrate; its superuser DSN in @dsn. Returns 0 or -1. */
static int
make_database(const char *name, bool migrate, char *dsn, unsigned int size)
{
    char err[1024];
    unsigned int applied = 0;
    PGconn *conn;
    int rc = 0;

    if (vtpm_test_pg_create_db(&pg, name, dsn, size) < 0)
        return -1;
    if (!migrate)
        return 0;
    conn = vtpm_test_pg_connect(dsn);
    if (vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "cannot migrate database '%s': %s\n", name, err);
        rc = -1;
    }
    PQfinish(conn);
    return rc;
}

/* ---- loading ---- */

static void
test_cache_opens_an_empty_inventory(void **state)
{
    char dsn[512];
    vtpm_inventory *inv;
    vtpm_uuid out[1];

    (void)state;
    assert_int_equal(make_database("cache_empty", true, dsn, sizeof(dsn)), 0);
    inv = open_ok(dsn);
    assert_int_equal(vtpm_inventory_size(inv), 0);
    assert_int_equal(vtpm_inventory_candidates(inv, 0, 0, out, 1), 0);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS), 1);
    assert_int_equal(vtpm_inventory_refresh(inv, 0, NULL), VTPM_OK);
    assert_true(vtpm_inventory_fd(inv) >= 0);
    vtpm_inventory_close(inv);
}

static void
test_cache_holds_every_provider_with_the_tables_bits_and_generation(void **state)
{
    vtpm_inventory *inv;

    (void)state;
    inv = open_ok(db_dsn);
    assert_true(vtpm_inventory_size(inv) >= RANDOM_HOSTS);
    assert_cache_equals_table(inv);
    vtpm_inventory_close(inv);
}

static int
uuid_compare(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(vtpm_uuid));
}

/* The names of the traits in @set as a text[] literal in @buf. */
static void
names_array(char *buf, size_t size, vtpm_traitset set)
{
    size_t o = 1;

    vtpm_strfmt(buf, size, "{");
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if (!(set & VTPM_TRAITSET_BIT(t)))
            continue;
        vtpm_strfmt(buf + o, size - o, "%s%s", o > 1 ? "," : "", vtpm_trait_name((vtpm_trait)t));
        o = strlen(buf);
    }
    vtpm_strfmt(buf + o, size - o, "}");
}

/* The uuids vtpm.candidate_uuids() gives for the masks, sorted, in @out; returns how many. */
static size_t
sql_candidates(vtpm_traitset required, vtpm_traitset forbidden, vtpm_uuid *out, size_t max)
{
    char req[512], forb[512];
    const char *values[2] = { req, forb };
    PGresult *res;
    size_t n;

    names_array(req, sizeof(req), required);
    names_array(forb, sizeof(forb), forbidden);
    res = query(admin, "SELECT u::text FROM vtpm.candidate_uuids($1::text[], $2::text[]) AS u",
                2, values);
    n = (size_t)PQntuples(res);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, (int)i, 0), &out[i], NULL), VTPM_OK);
    PQclear(res);
    qsort(out, n, sizeof(*out), uuid_compare);
    return n;
}

static void
test_cache_candidates_equal_candidate_uuids_for_every_trait_mask(void **state)
{
    static const vtpm_traitset forbidden[] = {
        0,
        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2),
        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB) | VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_HOST),
        VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT),
    };
    size_t n_hosts = (size_t)RANDOM_HOSTS * 2;
    vtpm_uuid *mine = calloc(n_hosts, sizeof(*mine));
    vtpm_uuid *theirs = calloc(n_hosts, sizeof(*theirs));
    vtpm_inventory *inv = open_ok(db_dsn);
    size_t compared = 0;

    (void)state;
    assert_true(vtpm_inventory_size(inv) <= n_hosts);
    for (vtpm_traitset req = 0; req <= VTPM_TRAITSET_ALL; req++) {
        for (size_t f = 0; f < VTPM_N_ELEMENTS(forbidden); f++) {
            size_t n = vtpm_inventory_candidates(inv, req, forbidden[f], mine, n_hosts);
            size_t expect = sql_candidates(req, forbidden[f], theirs, n_hosts);

            if (n != expect)
                fprintf(stderr, "required 0x%llx forbidden 0x%llx: %zu, SQL %zu\n",
                        (unsigned long long)req, (unsigned long long)forbidden[f], n, expect);
            assert_int_equal(n, expect);
            qsort(mine, n, sizeof(*mine), uuid_compare);
            assert_memory_equal(mine, theirs, n * sizeof(*mine));
            compared += n;
        }
    }
    /* The random trait sets make most questions non-trivial. */
    assert_true(compared > (size_t)RANDOM_HOSTS * 10);
    vtpm_inventory_close(inv);
    free(mine);
    free(theirs);
}

/* A uuid no test publishes. */
#define NEVER_PUBLISHED "6b1c0e55-0000-4000-8000-00000000c4ec"

/* Every provider of the table, then one the inventory does not hold: the
 * batch check must say for each what a lookup and a mask test say. */
static void
test_cache_check_many_equals_lookup_for_every_provider_and_trait_mask(void **state)
{
    PGresult *res = query(admin, "SELECT uuid::text FROM vtpm.resource_providers", 0, NULL);
    size_t n = (size_t)PQntuples(res) + 1;
    vtpm_uuid *uuids = calloc(n, sizeof(*uuids));
    unsigned char *out = malloc(n);
    vtpm_inventory *inv = open_ok(db_dsn);
    size_t lacking = 0;

    (void)state;
    assert_non_null(uuids);
    assert_non_null(out);
    for (size_t i = 0; i + 1 < n; i++)
        assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, (int)i, 0), &uuids[i], NULL), VTPM_OK);
    assert_int_equal(vtpm_uuid_parse(NEVER_PUBLISHED, &uuids[n - 1], NULL), VTPM_OK);
    PQclear(res);
    /* VTPM_TRAITSET_ALL + 1 is a bit of no managed trait: nothing passes it. */
    for (vtpm_traitset req = 0; req <= VTPM_TRAITSET_ALL + 1; req++) {
        size_t pass = 0, got;

        memset(out, 0xff, n);
        got = vtpm_inventory_check_many(inv, uuids, n, req, out);
        for (size_t i = 0; i < n; i++) {
            vtpm_traitset bits = 0;
            int want = VTPM_INVENTORY_CHECK_UNKNOWN;

            if (vtpm_inventory_lookup(inv, &uuids[i], &bits, NULL))
                want = (bits & req) == req ? VTPM_INVENTORY_CHECK_PASSES
                                           : VTPM_INVENTORY_CHECK_LACKS;
            pass += want == VTPM_INVENTORY_CHECK_PASSES;
            lacking += want == VTPM_INVENTORY_CHECK_LACKS;
            assert_int_equal(out[i], want);
        }
        assert_int_equal(got, pass);
    }
    assert_true(lacking > 0);
    assert_int_equal(out[n - 1], VTPM_INVENTORY_CHECK_UNKNOWN);
    vtpm_inventory_close(inv);
    free(uuids);
    free(out);
}

static void
test_cache_check_many_without_inventory_or_arrays_passes_nothing(void **state)
{
    unsigned char mask[1] = { 0xff };
    vtpm_uuid any;

    (void)state;
    assert_int_equal(vtpm_uuid_parse(NEVER_PUBLISHED, &any, NULL), VTPM_OK);
    assert_int_equal(vtpm_inventory_check_many(NULL, &any, 1, 0, mask), 0);
    assert_int_equal(mask[0], VTPM_INVENTORY_CHECK_UNKNOWN);
    mask[0] = 0xff;
    assert_int_equal(vtpm_inventory_check_many(NULL, NULL, 1, 0, mask), 0);
    assert_int_equal(mask[0], 0xff);
    assert_int_equal(vtpm_inventory_check_many(NULL, &any, 1, 0, NULL), 0);
    assert_int_equal(vtpm_inventory_check_many(NULL, NULL, 0, 0, NULL), 0);
}

static void
test_cache_candidates_come_in_creation_order(void **state)
{
    PGresult *res = query(admin, "SELECT uuid::text FROM vtpm.resource_providers ORDER BY id",
                          0, NULL);
    vtpm_inventory *inv = open_ok(db_dsn);
    size_t n = (size_t)PQntuples(res);
    vtpm_uuid *all = calloc(n, sizeof(*all));

    (void)state;
    assert_int_equal(vtpm_inventory_candidates(inv, 0, 0, all, n), n);
    for (size_t i = 0; i < n; i++) {
        char text[VTPM_UUID_STRING_SIZE];

        vtpm_uuid_format(&all[i], text);
        assert_string_equal(text, PQgetvalue(res, (int)i, 0));
    }
    PQclear(res);
    free(all);
    vtpm_inventory_close(inv);
}

static void
test_cache_candidates_count_all_matches_and_write_at_most_max(void **state)
{
    const vtpm_traitset req = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    vtpm_inventory *inv = open_ok(db_dsn);
    size_t total = vtpm_inventory_candidates(inv, req, 0, NULL, 0);
    vtpm_uuid *all = calloc(total + 1, sizeof(*all));
    vtpm_uuid few[6], sentinel;

    (void)state;
    assert_true(total > 5);
    /* All of them, and nothing written past them. */
    memset(all, 0xa5, (total + 1) * sizeof(*all));
    memset(&sentinel, 0xa5, sizeof(sentinel));
    assert_int_equal(vtpm_inventory_candidates(inv, req, 0, all, total + 1), total);
    assert_memory_equal(&all[total], &sentinel, sizeof(sentinel));
    /* Five of them: the first five, the count is still all of them. */
    memset(few, 0xa5, sizeof(few));
    assert_int_equal(vtpm_inventory_candidates(inv, req, 0, few, 5), total);
    assert_memory_equal(few, all, 5 * sizeof(*few));
    assert_memory_equal(&few[5], &sentinel, sizeof(sentinel));
    /* Counting only; NULL out with a max writes nothing either. */
    assert_int_equal(vtpm_inventory_candidates(inv, req, 0, NULL, 10), total);
    /* Required and forbidden at once, or a trait that is not managed: nothing. */
    assert_int_equal(vtpm_inventory_candidates(inv, req, req, all, total), 0);
    assert_int_equal(vtpm_inventory_candidates(inv, VTPM_TRAITSET_BIT(VTPM_TRAIT_COUNT), 0, all,
                                               total), 0);
    assert_int_equal(vtpm_inventory_candidates(inv, req, VTPM_TRAITSET_BIT(40), NULL, 0), total);
    assert_int_equal(vtpm_inventory_candidates(NULL, 0, 0, NULL, 0), 0);
    free(all);
    vtpm_inventory_close(inv);
}

/* ---- notifications ---- */

static void
test_cache_sees_a_publish_from_another_connection_after_refresh(void **state)
{
    const vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    const vtpm_traitset b = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_inventory *inv;
    vtpm_uuid uuid;
    vtpm_traitset bits = 0;
    int64_t gen = 0;
    long long db_gen;

    (void)state;
    publish("notify-change", a);
    inv = open_ok(db_dsn);
    uuid = uuid_of("notify-change");
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
    assert_int_equal(bits, a);
    db_gen = publish("notify-change", b);
    assert_int_equal(db_gen, gen + 1);
    refresh_until_generation(inv, &uuid, db_gen);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
    assert_int_equal(bits, b);
    assert_int_equal(gen, db_generation("notify-change"));
    assert_true(vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED) >= 1);
    /* A report that changes nothing notifies nothing and changes nothing. */
    assert_int_equal(publish("notify-change", b), db_gen);
    assert_int_equal(vtpm_inventory_refresh(inv, 100, NULL), VTPM_OK);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
    assert_int_equal(gen, db_gen);
    assert_cache_equals_table(inv);
    vtpm_inventory_close(inv);
}

static void
test_cache_adds_a_host_published_after_open(void **state)
{
    vtpm_inventory *inv = open_ok(db_dsn);
    size_t before = vtpm_inventory_size(inv);
    const vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    size_t with_set = vtpm_inventory_candidates(inv, set, 0, NULL, 0);
    vtpm_uuid uuid;
    long long gen;

    (void)state;
    gen = publish("notify-new-host", set);
    uuid = uuid_of("notify-new-host");
    assert_false(vtpm_inventory_lookup(inv, &uuid, NULL, NULL));
    refresh_until_generation(inv, &uuid, gen);
    assert_int_equal(vtpm_inventory_size(inv), before + 1);
    assert_int_equal(vtpm_inventory_candidates(inv, set, 0, NULL, 0), with_set + 1);
    assert_cache_equals_table(inv);
    vtpm_inventory_close(inv);
}

static void
test_cache_fd_wakes_poll_when_a_change_is_notified(void **state)
{
    vtpm_inventory *inv = open_ok(db_dsn);
    struct pollfd pfd = { .fd = vtpm_inventory_fd(inv), .events = POLLIN, .revents = 0 };
    vtpm_uuid uuid;
    long long gen;

    (void)state;
    publish("notify-poll", 0);
    assert_int_equal(vtpm_inventory_reload(inv, NULL), VTPM_OK);
    uuid = uuid_of("notify-poll");
    gen = publish("notify-poll", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_true(pfd.revents & POLLIN);
    refresh_until_generation(inv, &uuid, gen);
    vtpm_inventory_close(inv);
}

static void
test_cache_ignores_and_counts_spoofed_notifications(void **state)
{
    vtpm_inventory *inv;
    vtpm_uuid uuid, other;
    char sql[2048], text[VTPM_UUID_STRING_SIZE], other_text[VTPM_UUID_STRING_SIZE];
    vtpm_traitset bits = 0;
    int64_t gen = 0;
    long long db_gen, other_gen;
    uint64_t applied;

    (void)state;
    db_gen = publish("spoof-target", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    other_gen = publish("spoof-other", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    inv = open_ok(db_dsn);
    uuid = uuid_of("spoof-target");
    vtpm_uuid_format(&uuid, text);
    other = uuid_of("spoof-other");
    vtpm_uuid_format(&other, other_text);
    applied = vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED);
    /* One transaction: all of them arrive together. */
    vtpm_strfmt(sql, sizeof(sql),
        "BEGIN;"
        "NOTIFY vtpm_traits, 'not json at all';"
        "NOTIFY vtpm_traits, '{}';"
        "NOTIFY vtpm_traits, '{\"uuid\": \"nope\", \"generation\": 99}';"
        "NOTIFY vtpm_traits, '[\"%s\"]';"
        /* A valid uuid that no provider has. */
        "NOTIFY vtpm_traits, '{\"uuid\": \"01234567-89ab-cdef-0123-456789abcdef\", "
        "\"generation\": 1, \"added\": [\"COMPUTE_SECURITY_TPM_2_0\"]}';"
        /* A real provider with made-up traits and a newer generation: re-read, not taken. */
        "NOTIFY vtpm_traits, '{\"uuid\": \"%s\", \"generation\": %lld, "
        "\"added\": [\"COMPUTE_SECURITY_TPM_2_0\"], \"removed\": [\"COMPUTE_SECURITY_TPM_1_2\"]}';"
        /* The generation the cache has already: recognised and skipped. */
        "NOTIFY vtpm_traits, '{\"uuid\": \"%s\", \"generation\": %lld}';"
        "COMMIT",
        text, text, db_gen + 10, other_text, other_gen);
    exec_sql(sql);
    refresh_until_counter(inv, VTPM_INVENTORY_NOTIFICATIONS, 7);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_NOTIFICATIONS_MALFORMED), 4);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_NOTIFICATIONS_IGNORED), 3);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED), applied);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
    assert_int_equal(bits, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(gen, db_gen);
    assert_true(vtpm_inventory_lookup(inv, &other, &bits, &gen));
    assert_int_equal(bits, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(gen, other_gen);
    assert_cache_equals_table(inv);
    vtpm_inventory_close(inv);
}

static void
test_cache_follows_an_owner_generation_jump(void **state)
{
    const vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                              VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_HOST);
    vtpm_inventory *inv;
    vtpm_uuid uuid;
    vtpm_traitset bits = 0;
    int64_t gen = 0;
    long long before, after;

    (void)state;
    before = publish("jump-host", 0);
    inv = open_ok(db_dsn);
    uuid = uuid_of("jump-host");
    exec_sql("UPDATE vtpm.resource_providers SET generation = generation + 5 "
             "WHERE name = 'jump-host'");
    after = publish("jump-host", set);
    assert_int_equal(after, before + 6);
    refresh_until_generation(inv, &uuid, after);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, &gen));
    assert_int_equal(bits, set);
    vtpm_inventory_close(inv);
}

static void
test_cache_drops_a_deleted_provider_on_reload(void **state)
{
    vtpm_inventory *inv;
    vtpm_uuid gone, gone_later;
    size_t size;
    uint64_t reloads;

    (void)state;
    publish("delete-now", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    publish("delete-later", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    inv = open_ok(db_dsn);
    gone = uuid_of("delete-now");
    gone_later = uuid_of("delete-later");
    size = vtpm_inventory_size(inv);
    exec_sql("DELETE FROM vtpm.resource_providers WHERE name = 'delete-now'");
    /* Not notified: still there until a reload. */
    assert_int_equal(vtpm_inventory_refresh(inv, 100, NULL), VTPM_OK);
    assert_true(vtpm_inventory_lookup(inv, &gone, NULL, NULL));
    assert_int_equal(vtpm_inventory_reload(inv, NULL), VTPM_OK);
    assert_false(vtpm_inventory_lookup(inv, &gone, NULL, NULL));
    assert_int_equal(vtpm_inventory_size(inv), size - 1);
    assert_cache_equals_table(inv);

    /* The periodic reload does the same by itself, once the interval is over. */
    use_test_clock(inv);
    assert_int_equal(vtpm_inventory_set_reload_interval(inv, 60), VTPM_OK);
    exec_sql("DELETE FROM vtpm.resource_providers WHERE name = 'delete-later'");
    reloads = vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS);
    assert_int_equal(vtpm_inventory_refresh(inv, 0, NULL), VTPM_OK);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS), reloads);
    assert_true(vtpm_inventory_lookup(inv, &gone_later, NULL, NULL));
    clock_skip_ms += 61 * 1000;
    assert_int_equal(vtpm_inventory_refresh(inv, 0, NULL), VTPM_OK);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS), reloads + 1);
    assert_false(vtpm_inventory_lookup(inv, &gone_later, NULL, NULL));
    assert_int_equal(vtpm_inventory_size(inv), size - 2);
    /* Turned off, it does not. */
    assert_int_equal(vtpm_inventory_set_reload_interval(inv, 0), VTPM_OK);
    clock_skip_ms += 24 * 3600 * 1000;
    assert_int_equal(vtpm_inventory_refresh(inv, 0, NULL), VTPM_OK);
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS), reloads + 1);
    vtpm_inventory_close(inv);
}

/* ---- roles and errors ---- */

static void
test_cache_works_for_a_reader_login_and_refuses_a_login_without_rights(void **state)
{
    char dsn[512];
    vtpm_inventory *inv;

    (void)state;
    exec_sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cache_reader') "
             "THEN CREATE ROLE cache_reader LOGIN IN ROLE vtpm_reader; END IF; "
             "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cache_nobody') "
             "THEN CREATE ROLE cache_nobody LOGIN; END IF; END $$");
    vtpm_test_pg_dsn(&pg, "vtpm_test", "cache_reader", dsn, sizeof(dsn));
    inv = open_ok(dsn);
    assert_cache_equals_table(inv);
    vtpm_inventory_close(inv);

    vtpm_test_pg_dsn(&pg, "vtpm_test", "cache_nobody", dsn, sizeof(dsn));
    assert_open_fails(dsn, VTPM_ERR_DATABASE, "login 'cache_nobody' may not read the inventory");
    assert_open_fails(dsn, VTPM_ERR_DATABASE, "(grant it vtpm_reader): permission denied");
}

static void
test_cache_refuses_an_unmigrated_database(void **state)
{
    char dsn[512];

    (void)state;
    assert_int_equal(make_database("cache_unmigrated", false, dsn, sizeof(dsn)), 0);
    assert_open_fails(dsn, VTPM_ERR_DATABASE, "has no inventory schema (run vtpm-inventory migrate)");
    assert_open_fails(dsn, VTPM_ERR_DATABASE, "database 'cache_unmigrated' on '");
}

/* The port of the test cluster, from its DSN. */
static const char *
cluster_port(char *buf, size_t size)
{
    const char *p = strstr(pg.dsn, "port=") + 5;

    return vtpm_strfmt(buf, size, "%.*s", (int)strcspn(p, " "), p);
}

static void
test_cache_reports_an_unreachable_database(void **state)
{
    (void)state;
    /* Nothing listens on port 1 of the loopback. */
    assert_open_fails("host=127.0.0.1 port=1 dbname=vtpm connect_timeout=3",
                      VTPM_ERR_UNREACHABLE, "cannot connect to database 'vtpm' on '127.0.0.1:1'");
    assert_open_fails("host=/nonexistent-dir dbname=vtpm", VTPM_ERR_UNREACHABLE,
                      "cannot connect to database 'vtpm'");
}

static void
test_cache_never_shows_the_password(void **state)
{
    char dsn[600], port[16];
    vtpm_error err = { 0 };

    (void)state;
    /* TCP needs a password (scram); this one is wrong. */
    vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1 port=%s dbname=vtpm_test user=postgres "
                "password='s3cr3t pw' connect_timeout=3", cluster_port(port, sizeof(port)));
    assert_null(vtpm_inventory_open(dsn, 0, &err));
    assert_int_equal(err.status, VTPM_ERR_DATABASE);
    assert_non_null(strstr(err.message, "password authentication failed"));
    assert_null(strstr(err.message, "s3cr3t"));
    /* libpq's own message would quote the broken DSN. */
    assert_null(vtpm_inventory_open("host=h password=top secret", 0, &err));
    assert_int_equal(err.status, VTPM_ERR_BAD_INPUT);
    assert_non_null(strstr(err.message, "cannot parse the inventory DSN"));
    assert_null(strstr(err.message, "top"));
    assert_null(strstr(err.message, "secret"));
    assert_null(vtpm_inventory_open("postgresql://u:hunter%zz@h/db", 0, &err));
    assert_int_equal(err.status, VTPM_ERR_BAD_INPUT);
    assert_null(strstr(err.message, "hunter"));
}

static void
test_cache_rejects_bad_arguments_with_specific_messages(void **state)
{
    static const struct {
        const char *text;
        int column;
    } bad[] = {
        { "", 1 },
        { "0123456789ab-cdef-0123-456789abcdef", 9 },
        { "01234567-89ab-cdef-0123-456789abcdeg", 36 },
        { "01234567-89ab-cdef-0123-456789abcdef0", 37 },
        { "01234567-89ab-cdef-0123-456789abcde", 36 },
        { " 01234567-89ab-cdef-0123-456789abcdef", 1 },
        { "01234567_89ab-cdef-0123-456789abcdef", 9 },
        { "0123456x-89ab-cdef-0123-456789abcdef", 8 },
    };
    vtpm_error err = { 0 };
    vtpm_uuid uuid, again;
    char text[VTPM_UUID_STRING_SIZE];

    (void)state;
    assert_null(vtpm_inventory_open(NULL, 0, &err));
    assert_int_equal(err.status, VTPM_ERR_INVALID_ARG);
    assert_null(vtpm_inventory_open(db_dsn, 0x80, &err));
    assert_int_equal(err.status, VTPM_ERR_UNKNOWN_FLAGS);
    assert_string_equal(err.message, "unknown inventory flags 0x80");
    assert_null(vtpm_inventory_open(NULL, 0, NULL));
    assert_int_equal(vtpm_inventory_refresh(NULL, 0, &err), VTPM_ERR_INVALID_ARG);
    assert_string_equal(err.message, "inventory is NULL");
    assert_int_equal(vtpm_inventory_reload(NULL, NULL), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_inventory_set_reload_interval(NULL, 5), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_inventory_size(NULL), 0);
    assert_int_equal(vtpm_inventory_fd(NULL), -1);
    assert_false(vtpm_inventory_lookup(NULL, &uuid, NULL, NULL));
    assert_int_equal(vtpm_inventory_counter(NULL, VTPM_INVENTORY_RELOADS), 0);
    vtpm_inventory_close(NULL);

    assert_int_equal(vtpm_uuid_parse(NULL, &uuid, &err), VTPM_ERR_INVALID_ARG);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(vtpm_uuid_parse(bad[i].text, &uuid, &err), VTPM_ERR_BAD_INPUT);
        if (err.column != bad[i].column)
            fprintf(stderr, "'%s': column %d, expected %d\n", bad[i].text, err.column,
                    bad[i].column);
        assert_int_equal(err.column, bad[i].column);
        assert_non_null(strstr(err.message, "malformed uuid"));
    }
    assert_int_equal(vtpm_uuid_parse("01234567-89AB-cdef-0123-456789ABCDEF", &uuid, NULL), VTPM_OK);
    vtpm_uuid_format(&uuid, text);
    assert_string_equal(text, "01234567-89ab-cdef-0123-456789abcdef");
    assert_int_equal(uuid.bytes[0], 0x01);
    assert_int_equal(uuid.bytes[15], 0xef);
    assert_int_equal(vtpm_uuid_parse(text, &again, NULL), VTPM_OK);
    assert_memory_equal(&uuid, &again, sizeof(uuid));
}

/* ---- ABI ---- */

/* The sorted, comma-joined names of @text's lines that match @prefix ... @suffix. */
static void
names_between(const char *text, const char *prefix, const char *suffix, char *out, size_t size)
{
    const char *names[64];
    char copy[8192];
    size_t n = 0, o = 0;

    vtpm_strfmt(copy, sizeof(copy), "%s", text);
    for (char *line = copy, *next; line && *line; line = next) {
        char *start, *end;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!(start = strstr(line, prefix)))
            continue;
        start += strlen(prefix);
        if (!(end = strstr(start, suffix)) || n == VTPM_N_ELEMENTS(names))
            continue;
        *end = '\0';
        names[n++] = start;
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];

            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        vtpm_strfmt(out + o, size - o, "%s%s", i ? "," : "", names[i]);
        o = strlen(out);
    }
}

static void
test_cache_library_exports_exactly_its_version_script(void **state)
{
    const char *build = getenv("VTPM_BUILD_ROOT"), *source = getenv("VTPM_SOURCE_ROOT");
    char so[1024], map_path[1024], nm_out[8192], map[8192], exported[4096], listed[4096];
    char *argv[] = { (char *)"nm", (char *)"-D", (char *)"--defined-only", so, NULL };
    FILE *f;
    size_t len;

    (void)state;
    assert_non_null(build);
    assert_non_null(source);
    vtpm_strfmt(so, sizeof(so), "%s/scheduler/inventory/libvtpm-inventory.so", build);
    vtpm_strfmt(map_path, sizeof(map_path), "%s/scheduler/inventory/libvtpm-inventory.map", source);
    if (vtpm_test_spawn(argv, nm_out, sizeof(nm_out)) != 0) {
        fprintf(stderr, "nm -D --defined-only '%s' failed (build it; nm is in binutils)\n", so);
        fail();
    }
    assert_non_null(f = fopen(map_path, "r"));
    len = fread(map, 1, sizeof(map) - 1, f);
    map[len] = '\0';
    fclose(f);
    names_between(nm_out, " T ", "@@VTPM_INVENTORY_0.1", exported, sizeof(exported));
    names_between(map, "        ", ";", listed, sizeof(listed));
    /* The map's "local:" section lists "*", which sorts first. */
    assert_true(strncmp(listed, "*,", 2) == 0);
    assert_non_null(strstr(listed, ",vtpm_inventory_open,"));
    assert_string_equal(listed + 2, exported);
    assert_non_null(strstr(nm_out, "VTPM_INVENTORY_0.1"));
}

/* ---- outages (last: they restart the cluster) ---- */

static void
test_cache_answers_through_a_server_restart_and_reloads_after_it(void **state)
{
    const vtpm_traitset before = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    const vtpm_traitset during = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    vtpm_inventory *inv;
    vtpm_error err = { 0 };
    vtpm_uuid uuid, fresh;
    vtpm_traitset bits = 0;
    size_t size, matches;
    long long gen_after;
    double deadline;
    vtpm_status st;

    (void)state;
    publish("outage-host", before);
    inv = open_ok(db_dsn);
    /* The pause between reconnection attempts goes by this test's clock. */
    use_test_clock(inv);
    uuid = uuid_of("outage-host");
    size = vtpm_inventory_size(inv);
    matches = vtpm_inventory_candidates(inv, before, 0, NULL, 0);

    PQfinish(admin);
    admin = NULL;
    assert_int_equal(vtpm_test_pg_stop(&pg), 0);
    err.status = VTPM_OK;
    assert_int_equal(vtpm_inventory_refresh(inv, 2000, &err), VTPM_ERR_UNREACHABLE);
    assert_int_equal(err.status, VTPM_ERR_UNREACHABLE);
    assert_non_null(strstr(err.message, "lost the connection to database 'vtpm_test'"));
    assert_int_equal(vtpm_inventory_fd(inv), -1);
    /* The answers stay. */
    assert_int_equal(vtpm_inventory_size(inv), size);
    assert_int_equal(vtpm_inventory_candidates(inv, before, 0, NULL, 0), matches);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, NULL));
    assert_int_equal(bits, before);
    /* Still down: the attempt to reconnect fails, and says so. */
    assert_int_equal(vtpm_inventory_refresh(inv, 0, &err), VTPM_ERR_UNREACHABLE);
    assert_non_null(strstr(err.message, "cannot connect to database 'vtpm_test'"));
    assert_int_equal(vtpm_inventory_refresh(inv, 0, &err), VTPM_ERR_UNREACHABLE);
    assert_non_null(strstr(err.message, "next attempt in"));

    /* Back, and changed while nobody was listening. */
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);
    admin = vtpm_test_pg_connect(db_dsn);
    publish("outage-host", during);
    publish("outage-new-host", during);
    fresh = uuid_of("outage-new-host");
    /* The server is back once it accepts the connection: poll for that, with
     * a bound, moving the clock past each pause between attempts. */
    deadline = vtpm_clock_now() + 20;
    while ((st = vtpm_inventory_refresh(inv, 100, &err)) != VTPM_OK) {
        assert_int_equal(st, VTPM_ERR_UNREACHABLE);
        assert_true(vtpm_clock_now() < deadline);
        clock_skip_ms += 31 * 1000;
        usleep(20 * 1000);
    }
    assert_int_equal(vtpm_inventory_counter(inv, VTPM_INVENTORY_RECONNECTS), 1);
    assert_true(vtpm_inventory_fd(inv) >= 0);
    assert_true(vtpm_inventory_lookup(inv, &uuid, &bits, NULL));
    assert_int_equal(bits, during);
    assert_true(vtpm_inventory_lookup(inv, &fresh, NULL, NULL));
    assert_cache_equals_table(inv);
    /* And it listens again. */
    gen_after = publish("outage-host", before);
    refresh_until_generation(inv, &uuid, gen_after);
    vtpm_inventory_close(inv);
}

/* ---- fixture ---- */

static int
group_setup(void **state)
{
    char hosts[RANDOM_HOSTS * 16], masks[RANDOM_HOSTS * 5];
    const char *values[2] = { hosts, masks };
    unsigned int seed = 0x5eedcacu;
    size_t h = 0, m = 0;
    PGresult *res;

    (void)state;
    if (vtpm_test_pg_start(&pg) < 0 || make_database("vtpm_test", true, db_dsn, sizeof(db_dsn)) < 0)
        return -1;
    admin = vtpm_test_pg_connect(db_dsn);
    /* Hosts with random trait sets, so that every candidate question has answers. */
    hosts[h++] = '{';
    masks[m++] = '{';
    for (int i = 0; i < RANDOM_HOSTS; i++) {
        vtpm_strfmt(hosts + h, sizeof(hosts) - h, "%srandom-%03d", i ? "," : "", i);
        vtpm_strfmt(masks + m, sizeof(masks) - m, "%s%u", i ? "," : "",
                    (unsigned int)(rand_r(&seed) % (VTPM_TRAITSET_ALL + 1)));
        h = strlen(hosts);
        m = strlen(masks);
    }
    vtpm_strfmt(hosts + h, sizeof(hosts) - h, "}");
    vtpm_strfmt(masks + m, sizeof(masks) - m, "}");
    res = PQexecParams(admin, PUBLISH_SQL, 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != RANDOM_HOSTS) {
        fprintf(stderr, "cannot publish the random hosts: %s", PQerrorMessage(admin));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_opens_an_empty_inventory),
        cmocka_unit_test(test_cache_holds_every_provider_with_the_tables_bits_and_generation),
        cmocka_unit_test(test_cache_candidates_equal_candidate_uuids_for_every_trait_mask),
        cmocka_unit_test(test_cache_check_many_equals_lookup_for_every_provider_and_trait_mask),
        cmocka_unit_test(test_cache_check_many_without_inventory_or_arrays_passes_nothing),
        cmocka_unit_test(test_cache_candidates_come_in_creation_order),
        cmocka_unit_test(test_cache_candidates_count_all_matches_and_write_at_most_max),
        cmocka_unit_test(test_cache_sees_a_publish_from_another_connection_after_refresh),
        cmocka_unit_test(test_cache_adds_a_host_published_after_open),
        cmocka_unit_test(test_cache_fd_wakes_poll_when_a_change_is_notified),
        cmocka_unit_test(test_cache_ignores_and_counts_spoofed_notifications),
        cmocka_unit_test(test_cache_follows_an_owner_generation_jump),
        cmocka_unit_test(test_cache_drops_a_deleted_provider_on_reload),
        cmocka_unit_test(test_cache_works_for_a_reader_login_and_refuses_a_login_without_rights),
        cmocka_unit_test(test_cache_refuses_an_unmigrated_database),
        cmocka_unit_test(test_cache_reports_an_unreachable_database),
        cmocka_unit_test(test_cache_never_shows_the_password),
        cmocka_unit_test(test_cache_rejects_bad_arguments_with_specific_messages),
        cmocka_unit_test(test_cache_library_exports_exactly_its_version_script),
        cmocka_unit_test(test_cache_answers_through_a_server_restart_and_reloads_after_it),
    };

    return cmocka_run_group_tests_name("cache", tests, group_setup, group_teardown);
}
