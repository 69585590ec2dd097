/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher against Debian's real placement-api (uwsgi + PostgreSQL, noauth2). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"
#include "http.h"
#include "log.h"
#include "placement-priv.h"
#include "require.h"
#include "service.h"

static char fixture_dir[128];
static char placement_url[256];
static vtpm_http *raw;           /* a second, independent writer */

#define T_1_2 "COMPUTE_SECURITY_TPM_1_2"
#define T_2_0 "COMPUTE_SECURITY_TPM_2_0"

static int
fixture(const char *cmd, char *line, size_t len)
{
    char script[512];
    char *argv[] = {
        (char *)vtpm_test_source_path(script, sizeof(script),
                                      "tests/fixtures/placement-api.sh"),
        (char *)cmd, fixture_dir, NULL
    };

    return vtpm_test_run(argv, line, len);
}

static int
group_setup(void **state)
{
    vtpm_http_conf hc = { .verify = true, .connect_timeout = 5, .timeout = 30 };
    char err[256];

    vtpm_log_init("test_placement_live", VTPM_LOG_ERROR);
    if (vtpm_test_tmpdir(fixture_dir, sizeof(fixture_dir), "plc") < 0)
        return -1;
    if (fixture("start", placement_url, sizeof(placement_url)) != 0 ||
        strncmp(placement_url, "http://", 7) != 0) {
        fprintf(stderr, "# cannot start Placement with tests/fixtures/placement-api.sh "
                "(install the packages with scripts/setup.sh)\n");
        fixture("stop", NULL, 0);
        vtpm_test_rmdir(fixture_dir);
        return -1;
    }
    raw = vtpm_http_new(&hc, err, sizeof(err));
    return raw ? 0 : -1;
}

static int
group_teardown(void **state)
{
    vtpm_http_free(raw);
    fixture("stop", NULL, 0);
    vtpm_test_rmdir(fixture_dir);
    return 0;
}

/* One request as another Placement user would make it; returns the body as JSON. */
static json_t *
raw_call(const char *method, const char *path, const char *body, long *status)
{
    static const char *const headers[] = {
        "X-Auth-Token: admin", "OpenStack-API-Version: placement 1.39",
        "Content-Type: application/json", "Accept: application/json", NULL
    };
    vtpm_http_response resp = { 0 };
    char url[512];
    json_t *root;

    snprintf(url, sizeof(url), "%s%s", placement_url, path);
    assert_int_equal(vtpm_http_request(raw, method, url, headers, body, &resp), 0);
    if (status)
        *status = resp.status;
    root = json_loads(resp.body, 0, NULL);
    vtpm_http_response_clear(&resp);
    return root;
}

static void
raw_create_provider(const char *name, const char *uuid)
{
    char body[256];
    long status;

    snprintf(body, sizeof(body), "{\"name\": \"%s\", \"uuid\": \"%s\"}", name, uuid);
    json_decref(raw_call("POST", "/resource_providers", body, &status));
    assert_int_equal(status, 200);
}

/* The provider's traits as a sorted, comma-separated string, and its generation. */
static long long
raw_traits(const char *uuid, char *buf, size_t len)
{
    char path[128];
    json_t *root, *t;
    const char *names[64];
    size_t i, n = 0, o = 0;
    long status;
    long long gen;

    snprintf(path, sizeof(path), "/resource_providers/%s/traits", uuid);
    root = raw_call("GET", path, NULL, &status);
    assert_int_equal(status, 200);
    json_array_foreach(json_object_get(root, "traits"), i, t) {
        if (n < 64)
            names[n++] = json_string_value(t);
    }
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
            const char *x = names[b];

            names[b] = names[b - 1];
            names[b - 1] = x;
        }
    }
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", names[i]);
    gen = json_integer_value(json_object_get(root, "resource_provider_generation"));
    json_decref(root);
    return gen;
}

/* Sets the provider's traits as another writer would (with its generation). */
static void
raw_set_traits(const char *uuid, const char *traits_json)
{
    char path[128];
    char body[1024];
    char ignored[1024];
    long long gen = raw_traits(uuid, ignored, sizeof(ignored));
    long status;

    snprintf(path, sizeof(path), "/resource_providers/%s/traits", uuid);
    snprintf(body, sizeof(body),
             "{\"traits\": %s, \"resource_provider_generation\": %lld}", traits_json, gen);
    json_decref(raw_call("PUT", path, body, &status));
    assert_int_equal(status, 200);
}

static void
raw_ensure_custom_trait(const char *name)
{
    char path[128];
    long status;

    snprintf(path, sizeof(path), "/traits/%s", name);
    json_decref(raw_call("PUT", path, NULL, &status));
    assert_true(status == 201 || status == 204);
}

static vtpm_placement_client *
client_new_retries(bool create, const char *microversion, unsigned int retries)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    char err[256] = "";

    vtpm_placement_conf_init(&conf);
    conf.url = placement_url;
    conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf.token = (char *)"admin";
    conf.create_provider = create;
    conf.microversion = (char *)microversion;
    conf.retry_delay = 0.01;
    conf.retries = retries;
    client = vtpm_placement_client_new(&conf, err, sizeof(err));
    if (!client)
        fail_msg("client: %s", err);
    return client;
}

static vtpm_placement_client *
client_new(bool create, const char *microversion)
{
    return client_new_retries(create, microversion, 5);
}

/* A report with @n traits present (the rest absent). */
static void
report_init(vtpm_report *r, const char *host, const char *uuid, int n, ...)
{
    va_list ap;

    memset(r, 0, sizeof(*r));
    snprintf(r->host, sizeof(r->host), "%s", host);
    snprintf(r->provider_uuid, sizeof(r->provider_uuid), "%s", uuid ? uuid : "");
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        r->traits[t].state = VTPM_TRAIT_STATE_ABSENT;
        r->traits[t].reason_code = "test";
    }
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        r->traits[va_arg(ap, int)].state = VTPM_TRAIT_STATE_PRESENT;
    va_end(ap);
}

static void
test_placement_knows_only_the_version_traits(void **state)
{
    long status;
    json_t *root = raw_call("GET", "/traits?name=startswith:COMPUTE_SECURITY_TPM", NULL,
                            &status);
    vtpm_traitset known = 0;
    json_t *t;
    size_t i;

    assert_int_equal(status, 200);
    json_array_foreach(json_object_get(root, "traits"), i, t) {
        int tr = vtpm_trait_from_name(json_string_value(t));

        if (tr >= 0)
            known |= VTPM_TRAITSET_BIT(tr);
    }
    json_decref(root);
    /* Debian 12's Placement is Zed (os-traits 2.9): the other tests rely on it. */
    assert_int_equal(known, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) |
                     VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
}

static void
test_publish_creates_a_missing_provider(void **state)
{
    vtpm_placement_client *client = client_new(true, NULL);
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char path[256];
    char traits[512];
    long status;
    json_t *list;

    report_init(&r, "live-new-1", NULL, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.status, VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 1);
    assert_int_equal(res.warnings, 0);
    assert_non_null(strstr(res.message, "+" T_2_0));

    list = raw_call("GET", "/resource_providers?name=live-new-1", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(list, "resource_providers")), 1);
    snprintf(path, sizeof(path), "%s", json_string_value(json_object_get(
        json_array_get(json_object_get(list, "resource_providers"), 0), "uuid")));
    json_decref(list);
    assert_int_equal(raw_traits(path, traits, sizeof(traits)), 1);
    assert_string_equal(traits, T_2_0);

    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.microversion, 39);
    assert_int_equal(st.connections, 1);     /* every request on one connection */
    vtpm_placement_client_free(client);
}

static void
test_publish_refuses_a_missing_provider_unless_configured(void **state)
{
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;
    long status;
    json_t *list;

    report_init(&r, "live-absent", NULL, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "'live-absent'"));
    assert_non_null(strstr(res.message, "create_provider"));
    list = raw_call("GET", "/resource_providers?name=live-absent", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(list, "resource_providers")), 0);
    json_decref(list);
    vtpm_placement_client_free(client);
}

static void
test_publish_by_configured_uuid_creates_or_refuses(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-00000000000b";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;
    char traits[512];

    report_init(&r, "live-uuid", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "no resource provider 'live-uuid' with uuid "
                                        "5e7b0a44-0000-4000-8000-00000000000b "
                                        "(create_provider is off)"));
    vtpm_placement_client_free(client);

    client = client_new(true, NULL);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(raw_traits(uuid, traits, sizeof(traits)), 1);
    assert_string_equal(traits, T_2_0);
    vtpm_placement_client_free(client);
}

static void
test_publish_keeps_unmanaged_traits_of_an_existing_provider(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000001";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;
    char traits[512];

    raw_ensure_custom_trait("CUSTOM_KEEP_ME");
    raw_create_provider("live-existing", uuid);
    raw_set_traits(uuid, "[\"HW_CPU_X86_AVX2\", \"CUSTOM_KEEP_ME\", \"" T_1_2 "\"]");
    assert_int_equal(raw_traits(uuid, traits, sizeof(traits)), 1);

    report_init(&r, "live-existing", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 2);
    assert_non_null(strstr(res.message, "-" T_1_2 " +" T_2_0));
    assert_int_equal(raw_traits(uuid, traits, sizeof(traits)), 2);
    assert_string_equal(traits, "COMPUTE_SECURITY_TPM_2_0,CUSTOM_KEEP_ME,HW_CPU_X86_AVX2");
    vtpm_placement_client_free(client);
}

static void
test_publish_finds_an_existing_provider_by_name(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000002";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;
    char traits[512];

    raw_create_provider("live-by-name", uuid);
    report_init(&r, "live-by-name", NULL, 2, VTPM_TRAIT_TPM_1_2, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_non_null(strstr(res.message, uuid));
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, T_1_2 "," T_2_0);
    vtpm_placement_client_free(client);
}

static void
test_publish_same_report_again_leaves_generation_alone(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000003";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char traits[512];

    raw_create_provider("live-noop", uuid);
    report_init(&r, "live-noop", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 1);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(res.generation, 1);
    assert_non_null(strstr(res.message, "unchanged"));
    assert_int_equal(raw_traits(uuid, traits, sizeof(traits)), 1);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.trait_puts, 1);   /* no PUT for an unchanged set */
    vtpm_placement_client_free(client);
}

static void
test_publish_skips_traits_placement_does_not_know(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000004";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;
    char traits[512];

    raw_create_provider("live-unknown", uuid);
    report_init(&r, "live-unknown", uuid, 4, VTPM_TRAIT_TPM_2_0, VTPM_TRAIT_TPM_TIS,
                VTPM_TRAIT_TPM_CRB, VTPM_TRAIT_SECRET_SECURITY_USER);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.warnings, 3);
    assert_non_null(strstr(res.message, "3 unknown to placement skipped"));
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, T_2_0);
    /* Again: the same warnings, and nothing to write. */
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(res.warnings, 3);
    vtpm_placement_client_free(client);
}

static void
test_publish_inconclusive_report_changes_nothing(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000005";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char traits[512];

    raw_create_provider("live-inconclusive", uuid);
    raw_set_traits(uuid, "[\"" T_1_2 "\"]");
    report_init(&r, "live-inconclusive", uuid, 0);
    r.inconclusive = true;
    snprintf(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirtd is down");
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_INCONCLUSIVE);
    assert_non_null(strstr(res.message, "libvirtd is down"));
    assert_int_equal(raw_traits(uuid, traits, sizeof(traits)), 1);
    assert_string_equal(traits, T_1_2);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.requests, 0);
    vtpm_placement_client_free(client);
}

static void
test_publish_with_pinned_old_microversion_creates_provider(void **state)
{
    /* Before 1.20 a POST answers 201 without a body: the client looks it up. */
    vtpm_placement_client *client = client_new(true, "1.10");
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;

    report_init(&r, "live-old-mv", NULL, 1, VTPM_TRAIT_TPM_1_2);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 1);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.microversion, 10);
    vtpm_placement_client_free(client);
}

/* The concurrent writer: between our GET and our PUT, it adds a trait of its own. */
typedef struct {
    const char *uuid;
    int times;          /* how many PUTs to disturb */
    int done;
} bumper;

static void
bump_generation(void *opaque)
{
    bumper *b = opaque;
    char json[128];

    if (b->done >= b->times)
        return;
    snprintf(json, sizeof(json), "[\"CUSTOM_OTHER_WRITER_%d\"]", b->done);
    {
        char name[64];

        snprintf(name, sizeof(name), "CUSTOM_OTHER_WRITER_%d", b->done);
        raw_ensure_custom_trait(name);
    }
    raw_set_traits(b->uuid, json);
    b->done++;
}

static void
test_publish_rereads_after_concurrent_update(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000006";
    vtpm_placement_client *client = client_new(false, NULL);
    bumper b = { .uuid = uuid, .times = 1 };
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char traits[512];

    raw_create_provider("live-conflict", uuid);
    vtpm_placement_client_set_before_put(client, bump_generation, &b);
    report_init(&r, "live-conflict", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.conflicts, 1);
    assert_int_equal(st.trait_puts, 2);
    /* Generation: 1 from the other writer, 2 from ours; its trait survived. */
    assert_int_equal(res.generation, 2);
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, T_2_0 ",CUSTOM_OTHER_WRITER_0");
    vtpm_placement_client_free(client);
}

static void
test_publish_gives_up_after_bounded_conflicts(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000007";
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    bumper b = { .uuid = uuid, .times = 100 };
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char err[256];

    raw_create_provider("live-conflict-forever", uuid);
    vtpm_placement_conf_init(&conf);
    conf.url = placement_url;
    conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf.token = (char *)"admin";
    conf.retries = 2;
    conf.retry_delay = 0.01;
    client = vtpm_placement_client_new(&conf, err, sizeof(err));
    assert_non_null(client);
    vtpm_placement_client_set_before_put(client, bump_generation, &b);
    report_init(&r, "live-conflict-forever", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "gave up after 3 concurrent updates"));
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.conflicts, 3);
    assert_int_equal(b.done, 3);
    vtpm_placement_client_free(client);
}

/* Placement's own database (the fixture's cluster), as its superuser. */
static PGconn *
placement_db(void)
{
    char script[512], dsn[512], line[400];
    char *argv[] = {
        (char *)vtpm_test_source_path(script, sizeof(script), "scripts/pg-cluster.sh"),
        (char *)"dsn", dsn, NULL
    };
    PGconn *conn;

    snprintf(dsn, sizeof(dsn), "%s/pg", fixture_dir);
    assert_int_equal(vtpm_test_run(argv, line, sizeof(line)), 0);
    snprintf(dsn, sizeof(dsn), "%s dbname=placement", line);
    conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("cannot connect to placement's database: %s", PQerrorMessage(conn));
    return conn;
}

static void
db_exec(PGconn *conn, const char *sql, const char *param)
{
    const char *values[1] = { param };
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

typedef struct {
    vtpm_placement_client *client;
    vtpm_report report;
    vtpm_publish_result res;
} publish_job;

static void *
publish_thread(void *opaque)
{
    publish_job *j = opaque;

    vtpm_placement_publish(j->client, &j->report, &j->res);
    return NULL;
}

/*
 * Another writer adds one of our traits while our PUT adds it too. Placement
 * ignores the loser's unique-key error, but PostgreSQL has aborted that
 * transaction, so Placement answers 500 "current transaction is aborted"
 * (psycopg2's InFailedSqlTransaction), which the two-writer test below met
 * now and then. The other writer here is a transaction in Placement's
 * database that inserts the row and commits once our PUT waits for it.
 */
static void
test_publish_rereads_after_placement_fails_on_a_trait_added_meanwhile(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-00000000000c";
    publish_job job = { .client = client_new(false, NULL) };
    PGconn *other = placement_db(), *watch = placement_db();
    vtpm_placement_stats st;
    pthread_t thread;
    char traits[512];
    int waited = 0;

    raw_create_provider("live-dup", uuid);
    db_exec(other, "BEGIN", NULL);
    db_exec(other, "INSERT INTO resource_provider_traits "
                   "(resource_provider_id, trait_id, created_at) "
                   "SELECT rp.id, t.id, now() FROM resource_providers rp, traits t "
                   "WHERE rp.uuid = $1 AND t.name = '" T_2_0 "'", uuid);
    report_init(&job.report, "live-dup", uuid, 2, VTPM_TRAIT_TPM_1_2, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(pthread_create(&thread, NULL, publish_thread, &job), 0);
    /* Our PUT's insert of the same row waits for the other transaction. */
    for (;;) {
        PGresult *res = PQexec(watch, "SELECT count(*) FROM pg_stat_activity "
                                      "WHERE datname = 'placement' AND wait_event_type = 'Lock'");
        bool blocked = PQresultStatus(res) == PGRES_TUPLES_OK &&
                       strcmp(PQgetvalue(res, 0, 0), "1") == 0;

        PQclear(res);
        if (blocked)
            break;
        if (++waited > 1000) {
            db_exec(other, "ROLLBACK", NULL);
            pthread_join(thread, NULL);
            fail_msg("our PUT never waited for the other writer's row");
        }
        usleep(10000);
    }
    db_exec(other, "COMMIT", NULL);
    pthread_join(thread, NULL);
    PQfinish(other);
    PQfinish(watch);

    /* The 500 was the conflict it is: re-read (TPM_2_0 there now), PUT again. */
    if (job.res.status != VTPM_PUBLISH_CHANGED)
        fail_msg("publish ended %d: %s", (int)job.res.status, job.res.message);
    vtpm_placement_client_stats(job.client, &st);
    assert_int_equal(st.conflicts, 1);
    assert_int_equal(st.trait_puts, 2);
    assert_non_null(strstr(job.res.message, "+" T_1_2));
    assert_null(strstr(job.res.message, "+" T_2_0));
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, T_1_2 "," T_2_0);
    vtpm_placement_client_free(job.client);
}

/* Two real writers at once: the reporter flips its traits, an operator tool flips its own. */
typedef struct {
    const char *uuid;
    int rounds;
    int failures;
    int resent;                 /* rounds "unchanged" after a reconnect (see below) */
    unsigned int conflicts;
    char last_error[512];
    char log[32][240];          /* the reporter's result of each round, shown on failure */
} writer;

static void *
reporter_thread(void *opaque)
{
    writer *w = opaque;
    /* The other writer retries without pause: give the reporter room. */
    vtpm_placement_client *client = client_new_retries(false, NULL, 30);
    vtpm_placement_stats st;

    vtpm_placement_client_stats(client, &st);
    for (int i = 0; i < w->rounds; i++) {
        long connections = st.connections;
        vtpm_publish_result res;
        vtpm_report r;

        report_init(&r, "live-race", w->uuid, 1,
                    i % 2 ? VTPM_TRAIT_TPM_1_2 : VTPM_TRAIT_TPM_2_0);
        vtpm_placement_publish(client, &r, &res);
        vtpm_placement_client_stats(client, &st);
        connections = st.connections - connections;
        if (i < (int)VTPM_N_ELEMENTS(w->log))
            vtpm_strfmt(w->log[i], sizeof(w->log[i]), "%s (%ld new connections)",
                        res.message, connections);
        if (getenv("VTPM_TEST_TRACE"))
            printf("# round %d: %s (%ld new connections)\n", i, res.message, connections);
        /*
         * Each round flips the managed trait, so it must change it. The one
         * exception is not a lost update: libcurl sends a request again, on
         * a new connection, when a kept-alive one closed before any answer.
         * If the first copy of the PUT was applied, the second meets a
         * conflict, the re-read finds the wanted traits, and the round says
         * "unchanged". That needs a new connection in that round; a write
         * lost to the other writer shows as "unchanged" in the round after
         * it, without one.
         */
        if (res.status == VTPM_PUBLISH_UNCHANGED && connections > 0) {
            w->resent++;
            continue;
        }
        if (res.status != VTPM_PUBLISH_CHANGED) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", res.message);
        }
    }
    vtpm_placement_client_stats(client, &st);
    w->conflicts = st.conflicts;
    vtpm_placement_client_free(client);
    return NULL;
}

static void *
operator_thread(void *opaque)
{
    writer *w = opaque;
    vtpm_http_conf hc = { .verify = true, .connect_timeout = 5, .timeout = 30 };
    static const char *const headers[] = {
        "X-Auth-Token: admin", "OpenStack-API-Version: placement 1.39",
        "Content-Type: application/json", NULL
    };
    char err[256], url[512], body[2048];
    vtpm_http *h = vtpm_http_new(&hc, err, sizeof(err));

    snprintf(url, sizeof(url), "%s/resource_providers/%s/traits", placement_url, w->uuid);
    for (int i = 0; i < w->rounds; i++) {
        /* Read-modify-write of its own trait, keeping the rest, retrying on 409. */
        for (int attempt = 0; attempt < 50; attempt++) {
            vtpm_http_response resp = { 0 };
            json_t *root, *traits, *out = json_array(), *t;
            size_t k;
            char *list;

            vtpm_http_request(h, "GET", url, headers, NULL, &resp);
            root = json_loads(resp.body, 0, NULL);
            traits = json_object_get(root, "traits");
            json_array_foreach(traits, k, t) {
                if (strncmp(json_string_value(t), "CUSTOM_", 7) != 0)
                    json_array_append(out, t);
            }
            json_array_append_new(out, json_string(i % 2 ? "CUSTOM_RACE_B" : "CUSTOM_RACE_A"));
            list = json_dumps(out, JSON_COMPACT);
            snprintf(body, sizeof(body),
                     "{\"traits\": %s, \"resource_provider_generation\": %lld}", list,
                     (long long)json_integer_value(json_object_get(
                         root, "resource_provider_generation")));
            free(list);
            json_decref(out);
            json_decref(root);
            vtpm_http_request(h, "PUT", url, headers, body, &resp);
            if (resp.status == 200) {
                vtpm_http_response_clear(&resp);
                break;
            }
            /* A conflict is a 409, or a 500 when both passed the generation
             * check at once (Placement's own database compare-and-swap) or
             * both added the same trait (see the test above). */
            if (resp.status == 409 ||
                (resp.status == 500 && (strstr(resp.body, "concurrently updated") ||
                                        strstr(resp.body, "transaction is aborted"))))
                w->conflicts++;
            else
                w->failures++;
            vtpm_http_response_clear(&resp);
        }
    }
    vtpm_http_free(h);
    return NULL;
}

static void
test_publish_alongside_another_writer_loses_no_update(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000008";
    writer rep = { .uuid = uuid, .rounds = 30 };
    writer op = { .uuid = uuid, .rounds = 30 };
    pthread_t a, b;
    char traits[512];

    raw_ensure_custom_trait("CUSTOM_RACE_A");
    raw_ensure_custom_trait("CUSTOM_RACE_B");
    raw_create_provider("live-race", uuid);
    assert_int_equal(pthread_create(&a, NULL, reporter_thread, &rep), 0);
    assert_int_equal(pthread_create(&b, NULL, operator_thread, &op), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("# concurrent writers: reporter met %u conflicts, operator %u; "
           "%d rounds resent on a new connection\n", rep.conflicts, op.conflicts, rep.resent);
    if (rep.failures) {
        for (int i = 0; i < rep.rounds && i < (int)VTPM_N_ELEMENTS(rep.log); i++)
            printf("# reporter round %d: %s\n", i, rep.log[i]);
        fail_msg("reporter failed %d times, last: %s", rep.failures, rep.last_error);
    }
    assert_int_equal(op.failures, 0);
    /* Each writer's last word stands: round 29 is odd for both. */
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, T_1_2 ",CUSTOM_RACE_B");
}

/* Runs the built vtpm-reporter with @config (and @option, or NULL); returns
 * its exit status, stdout in @line. */
static int
reporter_run_with(const char *config, const char *option, char *line, size_t len)
{
    char bin[512], cfg[256];
    const char *root = getenv("VTPM_BUILD_ROOT");
    FILE *f;
    char *argv[] = { bin, (char *)"run", (char *)"--no-delay", (char *)"--config", cfg,
                     (char *)option, NULL };

    snprintf(bin, sizeof(bin), "%s/reporter/cli/vtpm-reporter", root ? root : ".");
    snprintf(cfg, sizeof(cfg), "%s/reporter.yaml", fixture_dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(config, f);
    fclose(f);
    assert_int_equal(chmod(cfg, 0600), 0);   /* it may hold a token or password */
    return vtpm_test_run(argv, line, len);
}

static int
reporter_run(const char *config, char *line, size_t len)
{
    return reporter_run_with(config, NULL, line, len);
}

/* The `run` config of "cli-host" with swtpm off, keeping its state in
 * fixture_dir/cli-state, with @heartbeat. */
static void
cli_host_config(char *config, size_t len, int heartbeat)
{
    snprintf(config, len,
             "swtpm_enabled: false\n"
             "host: cli-host\n"
             "inventory: placement\n"
             "lock_file: %s/run.lock\n"
             "state_dir: %s/cli-state\n"
             "heartbeat: %d\n"
             "retries: 0\n"
             "placement:\n"
             "  url: %s\n"
             "  auth: token\n"
             "  token: admin\n",
             fixture_dir, fixture_dir, heartbeat, placement_url);
}

static void
test_reporter_run_publishes_to_placement(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-00000000000a";
    char config[1024], line[512], traits[512];

    /* swtpm disabled: every managed trait is absent, whatever this host has. */
    raw_create_provider("cli-host", uuid);
    raw_set_traits(uuid, "[\"" T_1_2 "\", \"HW_CPU_X86_AVX2\"]");
    cli_host_config(config, sizeof(config), 0);
    assert_int_equal(reporter_run(config, line, sizeof(line)), 0);   /* VTPM_EXIT_OK */
    assert_non_null(strstr(line, "-" T_1_2));
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, "HW_CPU_X86_AVX2");
    assert_int_equal(reporter_run(config, line, sizeof(line)), 3);   /* VTPM_EXIT_UNCHANGED */
    assert_non_null(strstr(line, "placement: provider 'cli-host'"));
    assert_non_null(strstr(line, "unchanged at generation"));
    /* with a heartbeat, the same report is not sent again at all */
    cli_host_config(config, sizeof(config), 300);
    assert_int_equal(reporter_run(config, line, sizeof(line)), 3);
    assert_non_null(strstr(line, "unchanged since published"));
    assert_null(strstr(line, "generation"));
    /* --force asks Placement all the same */
    assert_int_equal(reporter_run_with(config, "--force", line, sizeof(line)), 3);
    assert_non_null(strstr(line, "unchanged at generation"));
}

/*
 * nova-compute with swtpm_enabled puts TPM_1_2 back on a provider whose
 * reporter removed it: the reporter's next publish removes it again and
 * warns, naming the trait and the fix. A publish that finds what it left
 * does not warn.
 */
static void
test_reporter_run_warns_when_a_trait_it_set_was_changed_back(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-00000000000a";
    char config[1024], traits[512];
    vtpm_test_reporter_call call = { .dir = fixture_dir, .config = config };
    char *err;

    (void)state;
    cli_host_config(config, sizeof(config), 0);
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    assert_int_equal(call.status, 3);
    assert_null(strstr(err, "someone else"));
    free(err);

    /* what nova-compute's update_provider_tree does from swtpm_enabled */
    raw_set_traits(uuid, "[\"" T_1_2 "\", \"" T_2_0 "\", \"HW_CPU_X86_AVX2\"]");
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    assert_int_equal(call.status, 0);
    vtpm_test_assert_has(err, "trait " T_1_2 " was added by someone else");
    vtpm_test_assert_has(err, "trait " T_2_0 " was added by someone else");
    vtpm_test_assert_has(err, "compute_driver = vtpm_libvirt.VTPMLibvirtDriver");
    vtpm_test_assert_has(err, "docs/nova.md");
    free(err);
    raw_traits(uuid, traits, sizeof(traits));
    assert_string_equal(traits, "HW_CPU_X86_AVX2");
}

/* Last: stops the service under a client that has a kept-alive connection. */
static void
test_publish_when_placement_is_stopped_is_unreachable(void **state)
{
    const char *uuid = "5e7b0a44-0000-4000-8000-000000000009";
    vtpm_placement_client *client = client_new(false, NULL);
    vtpm_publish_result res;
    vtpm_report r;

    raw_create_provider("live-stopped", uuid);
    report_init(&r, "live-stopped", uuid, 1, VTPM_TRAIT_TPM_2_0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(fixture("stop", NULL, 0), 0);
    report_init(&r, "live-stopped", uuid, 1, VTPM_TRAIT_TPM_1_2);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_int_equal(res.status, VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "cannot reach placement"));
    assert_non_null(strstr(res.message, placement_url));
    vtpm_placement_client_free(client);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_knows_only_the_version_traits),
        cmocka_unit_test(test_publish_creates_a_missing_provider),
        cmocka_unit_test(test_publish_refuses_a_missing_provider_unless_configured),
        cmocka_unit_test(test_publish_by_configured_uuid_creates_or_refuses),
        cmocka_unit_test(test_publish_keeps_unmanaged_traits_of_an_existing_provider),
        cmocka_unit_test(test_publish_finds_an_existing_provider_by_name),
        cmocka_unit_test(test_publish_same_report_again_leaves_generation_alone),
        cmocka_unit_test(test_publish_skips_traits_placement_does_not_know),
        cmocka_unit_test(test_publish_inconclusive_report_changes_nothing),
        cmocka_unit_test(test_publish_with_pinned_old_microversion_creates_provider),
        cmocka_unit_test(test_publish_rereads_after_concurrent_update),
        cmocka_unit_test(test_publish_gives_up_after_bounded_conflicts),
        cmocka_unit_test(test_publish_rereads_after_placement_fails_on_a_trait_added_meanwhile),
        cmocka_unit_test(test_publish_alongside_another_writer_loses_no_update),
        cmocka_unit_test(test_reporter_run_publishes_to_placement),
        cmocka_unit_test(test_reporter_run_warns_when_a_trait_it_set_was_changed_back),
        cmocka_unit_test(test_publish_when_placement_is_stopped_is_unreachable),
    };

    vtpm_test_require_program("/usr/bin/placement-api", "placement-api");
    vtpm_test_require_program("/usr/bin/uwsgi", "uwsgi-core");

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
