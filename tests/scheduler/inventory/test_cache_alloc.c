/* SPDX-License-Identifier: Apache-2.0 */
/* libvtpm-inventory when memory runs out: each allocation refused in turn, against a real inventory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vtpm/inventory.h>

#include "alloc_inject.h"
#include "pg_fixture.h"
#include "util.h"

/* Refuses the @n-th allocation from now on (tests/common/alloc_inject.h). */
static void
refuse(unsigned long n)
{
    vtpm_test_alloc_refuse(n);
}

/* Stops refusing; returns whether an allocation was refused. */
static bool
allow(void)
{
    return vtpm_test_alloc_allow();
}

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;

#define HOSTS 300
#define T20 VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0)

/* Publishes host alloc-@i with trait bits @bits. */
static void
publish(int i, int bits)
{
    char sql[768];
    char *v;

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT count(*) FROM vtpm.publish('alloc-%d', NULL, false, NULL, "
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', (%d >> t.bit) & 1 = 1, "
                "'code', 'c', 'reason', 'r')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL)",
                i, bits);
    v = vtpm_test_pg_value(admin, sql, NULL, 0);
    assert_string_equal(v, "1");
    free(v);
}

static void
test_open_fails_cleanly_at_every_allocation(void **state)
{

    (void)state;
    VTPM_FOR_EACH_ALLOCATION(n) {
        long before = vtpm_test_alloc_live;
        vtpm_error err = { 0 };
        vtpm_inventory *inv;

        refuse(n);
        inv = vtpm_inventory_open(db_dsn, 0, &err);
        if (allow()) {
            assert_null(inv);
            assert_int_equal(err.status, VTPM_ERR_NO_MEMORY);
            assert_non_null(strstr(err.message, "out of memory"));
            assert_int_equal(vtpm_test_alloc_live, before);
            continue;
        }
        assert_non_null(inv);
        assert_int_equal(vtpm_inventory_size(inv), HOSTS);
        vtpm_inventory_close(inv);
        assert_int_equal(vtpm_test_alloc_live, before);
        done_ = 1;
    }
}

static void
test_reload_that_runs_out_keeps_every_answer(void **state)
{
    vtpm_inventory *inv = vtpm_inventory_open(db_dsn, 0, NULL);
    size_t size, with_20;

    (void)state;
    assert_non_null(inv);
    size = vtpm_inventory_size(inv);
    with_20 = vtpm_inventory_candidates(inv, T20, 0, NULL, 0);
    VTPM_FOR_EACH_ALLOCATION(n) {
        vtpm_error err = { 0 };
        vtpm_status st;

        refuse(n);
        st = vtpm_inventory_reload(inv, &err);
        if (allow()) {
            assert_int_equal(st, VTPM_ERR_NO_MEMORY);
            assert_int_equal(vtpm_inventory_size(inv), size);
            assert_int_equal(vtpm_inventory_candidates(inv, T20, 0, NULL, 0), with_20);
            continue;
        }
        assert_int_equal(st, VTPM_OK);
        done_ = 1;
    }
    assert_int_equal(vtpm_inventory_size(inv), size);
    vtpm_inventory_close(inv);
}

/*
 * A change notified while memory runs out is not lost: once allocations
 * succeed again, refreshing brings it in (re-reading the host, or a full
 * reload when the notification itself could not be kept).
 */
static void
test_refresh_that_runs_out_catches_up_later(void **state)
{
    vtpm_inventory *inv = vtpm_inventory_open(db_dsn, 0, NULL);
    int bits = 0;

    (void)state;
    assert_non_null(inv);
    VTPM_FOR_EACH_ALLOCATION(n) {
        vtpm_error err = { 0 };
        vtpm_traitset got = 0;
        vtpm_uuid uuid;
        char *text;
        vtpm_status st;

        bits = bits == 2 ? 6 : 2;  /* TPM 2.0, then TPM 2.0 + TIS, ... */
        publish(0, bits);
        text = vtpm_test_pg_value(admin, "SELECT uuid FROM vtpm.resource_providers WHERE name = 'alloc-0'",
                                  NULL, 0);
        assert_int_equal(vtpm_uuid_parse(text, &uuid, NULL), VTPM_OK);
        free(text);
        refuse(n);
        st = vtpm_inventory_refresh(inv, 5000, &err);
        if (allow()) {
            assert_int_equal(st, VTPM_ERR_NO_MEMORY);
            /* Whatever it kept, the next refreshes bring the change. */
            for (int tries = 0; tries < 3 && (got != (vtpm_traitset)bits); tries++) {
                assert_int_equal(vtpm_inventory_refresh(inv, 0, &err), VTPM_OK);
                assert_true(vtpm_inventory_lookup(inv, &uuid, &got, NULL));
            }
            assert_int_equal(got, bits);
            continue;
        }
        assert_int_equal(st, VTPM_OK);
        assert_true(vtpm_inventory_lookup(inv, &uuid, &got, NULL));
        assert_int_equal(got, bits);
        done_ = 1;
    }
    vtpm_inventory_close(inv);
}

static int
group_setup(void **state)
{
    (void)state;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    for (int i = 0; i < HOSTS; i++)
        publish(i, i % 2 ? 2 : 1);
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
        cmocka_unit_test(test_open_fails_cleanly_at_every_allocation),
        cmocka_unit_test(test_reload_that_runs_out_keeps_every_answer),
        cmocka_unit_test(test_refresh_that_runs_out_catches_up_later),
    };

    return cmocka_run_group_tests_name("cache-alloc", tests, group_setup, group_teardown);
}
