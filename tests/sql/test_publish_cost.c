/* SPDX-License-Identifier: Apache-2.0 */
/* What a publish reads and writes (migration 0012): the host lookup on its index in both modes, no reason rewritten for an identical report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "util.h"

#define POOL_LOGIN "cost_pool"

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;
/* The plans auto_explain sent the admin session (client_min_messages = log). */
static char plans[1 << 20];

static void
collect_notice(void *arg, const PGresult *res)
{
    const char *msg = PQresultErrorMessage(res);
    size_t used = strlen(plans);

    (void)arg;
    if (used + strlen(msg) + 1 < sizeof(plans))
        memcpy(plans + used, msg, strlen(msg) + 1);
}

static void
sql_ok(const char *sql)
{
    char out[256];

    vtpm_test_pg_answer(admin, sql, out, sizeof(out));
    if (strncmp(out, "ERROR:", 6) == 0)
        fail_msg("%s: %s", sql, out);
}

static char *
value(const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(admin, sql, err, sizeof(err));

    if (!v)
        fail_msg("%s: %s", sql, err);
    return v;
}

/* The traits document every test reports: TPM 2.0 present, reason @reason for 1.2. */
static void
traits_sql(char *buf, size_t size, const char *reason)
{
    vtpm_strfmt(buf, size,
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', t.bit = 1, "
                "'code', 'c', 'reason', CASE WHEN t.bit = 0 THEN '%s' ELSE 'r' END))::text "
                "FROM vtpm.traits t WHERE t.bit IS NOT NULL)", reason);
}

/* Publishes @host's report signed with its key, as the shared login; the
 * signature is made here, by the superuser, with the key's secret. */
static void
signed_publish(const char *host)
{
    char traits[512], sql[4096];

    traits_sql(traits, sizeof(traits), "not built with 1.2");
    vtpm_strfmt(sql, sizeof(sql),
        "SELECT set_config('cost.key', k.key_id, false),"
        "       set_config('cost.seq', ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint)::text, false),"
        "       set_config('cost.traits', %s, false)"
        "  FROM vtpm_keys.keys k WHERE k.host = '%s' AND k.secret IS NOT NULL;"
        "SELECT set_config('cost.sig', encode(vtpm_keys.hmac_sha256(k.secret, vtpm_keys.signed_message("
        "       k.key_id, current_setting('cost.seq'), '%s', '', 'false', '', current_setting('cost.traits'), "
        "       '')), 'hex'), false) FROM vtpm_keys.keys k WHERE k.key_id = current_setting('cost.key');",
        traits, host, host);
    sql_ok(sql);
    vtpm_strfmt(sql, sizeof(sql),
        "SET ROLE " POOL_LOGIN ";"
        "SELECT status FROM vtpm.publish_signed(current_setting('cost.key'), current_setting('cost.seq'), "
        "       '%s', '', 'false', '', current_setting('cost.traits'), '', current_setting('cost.sig'));",
        host);
    sql_ok(sql);
    sql_ok("RESET ROLE");
}

/* The same through vtpm.publish(), whose login (session_user, a superuser
 * here) goes to publish_report() as the direct mode's does. */
static void
direct_publish(const char *host)
{
    char traits[512], sql[2048];

    traits_sql(traits, sizeof(traits), "not built with 1.2");
    vtpm_strfmt(sql, sizeof(sql),
                "SELECT status FROM vtpm.publish('%s', NULL, false, NULL, %s::jsonb, NULL)", host, traits);
    sql_ok(sql);
}

/* Runs @publish for @host with auto_explain on: the plans of every statement inside. */
static void
plans_of(void (*publish)(const char *), const char *host)
{
    plans[0] = '\0';
    sql_ok("SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; "
           "SET client_min_messages = log");
    publish(host);
    sql_ok("SET client_min_messages = notice; SET auto_explain.log_min_duration = -1");
}

/*
 * With enough hosts that an index scan is the plan, a publish finds its host
 * through resource_providers' name index, never by reading the table: the
 * login's name (C collation) once made every text parameter of the publish
 * C-collated, and the index (default collation) unusable.
 */
static void
test_host_lookup_uses_the_name_index(void **state)
{
    (void)state;
    sql_ok("INSERT INTO vtpm.resource_providers (uuid, name) "
           "SELECT gen_random_uuid(), 'filler-' || i FROM generate_series(1, 5000) AS i");
    sql_ok("ANALYZE vtpm.resource_providers");

    signed_publish("cost-signed");     /* creates the provider */
    plans_of(signed_publish, "cost-signed");
    assert_non_null(strstr(plans, "Index Scan using resource_providers_name_key"));
    if (strstr(plans, "Seq Scan on resource_providers"))
        fail_msg("a signed publish read resource_providers whole:\n%s", plans);

    direct_publish("cost-direct");
    plans_of(direct_publish, "cost-direct");
    assert_non_null(strstr(plans, "Index Scan using resource_providers_name_key"));
    if (strstr(plans, "Seq Scan on resource_providers"))
        fail_msg("a direct publish read resource_providers whole:\n%s", plans);
}

/*
 * A report whose traits document is the last one writes no reason row; one
 * whose reason changed rewrites that row only, and keeps its "since".
 */
static void
test_identical_report_writes_no_reason(void **state)
{
    char traits[512], sql[2048], *before, *after, *xid;

    (void)state;
    traits_sql(traits, sizeof(traits), "absent");
    vtpm_strfmt(sql, sizeof(sql), "SELECT status FROM vtpm.publish('cost-reasons', NULL, false, NULL, "
                "%s::jsonb, NULL)", traits);
    sql_ok(sql);
    before = value("SELECT string_agg(s.xmin::text || ' ' || s.since, ',' ORDER BY s.trait_id) "
                   "FROM vtpm.provider_trait_state s JOIN vtpm.resource_providers rp "
                   "ON rp.id = s.provider_id WHERE rp.name = 'cost-reasons'");
    sql_ok(sql);
    after = value("SELECT string_agg(s.xmin::text || ' ' || s.since, ',' ORDER BY s.trait_id) "
                  "FROM vtpm.provider_trait_state s JOIN vtpm.resource_providers rp "
                  "ON rp.id = s.provider_id WHERE rp.name = 'cost-reasons'");
    assert_string_equal(before, after);
    free(before);
    free(after);

    traits_sql(traits, sizeof(traits), "absent, said differently");
    vtpm_strfmt(sql, sizeof(sql), "BEGIN; SELECT status FROM vtpm.publish('cost-reasons', NULL, false, "
                "NULL, %s::jsonb, NULL); SELECT txid_current() %% 4294967296", traits);
    xid = value(sql);
    sql_ok("COMMIT");
    vtpm_strfmt(sql, sizeof(sql),
                "SELECT string_agg(t.bit || ' ' || s.reason, ',' ORDER BY t.bit) "
                "FROM vtpm.provider_trait_state s JOIN vtpm.traits t ON t.id = s.trait_id "
                "JOIN vtpm.resource_providers rp ON rp.id = s.provider_id "
                "WHERE rp.name = 'cost-reasons' AND s.xmin::text = '%s'", xid);
    after = value(sql);
    assert_string_equal(after, "0 absent, said differently");
    free(after);
    free(xid);
}

static int
group_setup(void **state)
{
    (void)state;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) != 0)
        return -1;
    PQsetNoticeReceiver(admin, collect_notice, NULL);
    sql_ok("LOAD 'auto_explain'");
    sql_ok("SELECT vtpm.pool_login('" POOL_LOGIN "')");
    sql_ok("SELECT key_id FROM vtpm.host_key_create('cost-signed')");
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
        cmocka_unit_test(test_host_lookup_uses_the_name_index),
        cmocka_unit_test(test_identical_report_writes_no_reason),
    };

    return cmocka_run_group_tests_name("publish_cost", tests, group_setup, group_teardown);
}
