/* SPDX-License-Identifier: Apache-2.0 */
/* state_dir in `run`: last-result.json, published.json and the heartbeat, with a real database. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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
#include <jansson.h>

#include "pg_fixture.h"
#include "report_fixture.h"
#include "run.h"
#include "state.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static char top[64];          /* the lock and every state folder */
static char lock_path[128];
static char state_dir[128];   /* this test's state folder */
static unsigned int state_seq;

/* ---- a publisher that counts, for the logic around publishing ---- */

static vtpm_publish_status fake_status;
static unsigned int fake_calls;

static vtpm_publish_status
fake_publish(void *ctx, const vtpm_report *report, vtpm_publish_result *out)
{
    (void)ctx;
    (void)report;
    fake_calls++;
    out->status = fake_status;
    vtpm_strfmt(out->message, sizeof(out->message), "fake %u", fake_calls);
    return out->status;
}

static const vtpm_publisher_ops fake_ops = { .name = "fake", .publish = fake_publish };
static const vtpm_publisher fake_publisher = { .ops = &fake_ops };

/* A conf publishing to the test database with a heartbeat of 300 s, and a
 * new state folder (not created yet) for each test. */
static void
conf_init(vtpm_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->postgres_dsn = db_dsn;
    conf->inventory = VTPM_INVENTORY_POSTGRES;
    conf->lock_file = lock_path;
    conf->heartbeat = 300;
    vtpm_strfmt(state_dir, sizeof(state_dir), "%s/state-%u", top, ++state_seq);
    conf->state_dir = state_dir;
}

/* A run through the fake publisher returning @status; returns the exit code. */
static int
fake_run(const vtpm_conf *conf, const vtpm_report *r, vtpm_publish_status status,
         vtpm_publish_result *res)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .no_delay = true };

    fake_status = status;
    fake_calls = 0;
    return vtpm_run(conf, r, &opts, res);
}

static char *
state_path(char *buf, size_t len, const char *name)
{
    return vtpm_strfmt(buf, len, "%s/%s", state_dir, name);
}

/* The state file @name as JSON, or NULL when it is missing. */
static json_t *
state_load(const char *name)
{
    char path[256];

    return json_load_file(state_path(path, sizeof(path), name), 0, NULL);
}

/* Moves the recorded publish @seconds into the past. */
static void
published_age(long long seconds)
{
    char path[256];
    json_t *doc = state_load(VTPM_STATE_PUBLISHED_FILE);

    assert_non_null(doc);
    json_object_set_new(doc, "time",
                        json_integer(json_integer_value(json_object_get(doc, "time")) - seconds));
    assert_int_equal(json_dump_file(doc, state_path(path, sizeof(path),
                                                    VTPM_STATE_PUBLISHED_FILE), 0), 0);
    json_decref(doc);
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* Runs vtpm_run() through the fake publisher with stderr captured; returns
 * what was logged (free it). */
static char *
fake_run_logged(const vtpm_conf *conf, const vtpm_report *r, int *code)
{
    char path[] = "/tmp/vtpm-heartbeat-log-XXXXXX";
    int fd = mkstemp(path), saved;
    char *text = calloc(1, 8192);

    assert_true(fd >= 0 && text);
    fflush(stderr);
    saved = dup(2);
    assert_int_equal(dup2(fd, 2), 2);
    *code = fake_run(conf, r, VTPM_PUBLISH_CHANGED, NULL);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_true(pread(fd, text, 8191, 0) >= 0);
    close(fd);
    unlink(path);
    return text;
}

/* ---- tests ---- */

/* The same report again within the heartbeat: no connection at all (the
 * database is down and the run still ends "unchanged"). */
static void
test_heartbeat_skips_an_unchanged_report_without_connecting(void **state)
{
    vtpm_run_options opts = { .no_delay = true };
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-skip", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_OK);

    assert_int_equal(vtpm_test_pg_stop(&pg), 0);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNCHANGED);
    assert_int_equal(res.status, VTPM_PUBLISH_UNCHANGED);
    assert_non_null(strstr(res.message, "unchanged since published"));
    assert_non_null(strstr(res.message, "heartbeat 300 s"));
    /* ignoring the heartbeat connects, and finds the database down */
    opts.ignore_heartbeat = true;
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNREACHABLE);
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);
}

static void
test_heartbeat_publishes_again_once_it_expires(void **state)
{
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-expire", 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    published_age(299);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 0);
    published_age(2);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 1);
    /* the new publish starts a new heartbeat */
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 0);
    /* a record from the future (a clock set back) does not count */
    published_age(-3600);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 1);
}

/* A trait or only its reason changed: published at once. */
static void
test_heartbeat_publishes_a_change_at_once(void **state)
{
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-change", 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    vtpm_test_report_init(&r, "hb-change", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    assert_int_equal(fake_calls, 1);
    vtpm_strfmt(r.traits[VTPM_TRAIT_TPM_2_0].reason, sizeof(r.traits[0].reason),
                "swtpm was upgraded");
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 1);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 0);
    /* another database is another inventory; its password stays out of the record */
    conf.postgres_dsn = (char *)"host=/nonexistent dbname=other password=s3cr3t-pw";
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 1);
    {
        json_t *doc = state_load(VTPM_STATE_PUBLISHED_FILE);
        char *text = json_dumps(doc, 0);

        assert_non_null(strstr(text, "dbname=other"));
        assert_null(strstr(text, "s3cr3t"));
        free(text);
        json_decref(doc);
    }
}

static void
test_heartbeat_zero_publishes_every_run(void **state)
{
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf);
    conf.heartbeat = 0;
    vtpm_test_report_init(&r, "hb-zero", 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
        assert_int_equal(fake_calls, 1);
    }
}

/* A failed publish leaves the record of the last good one as it was, so
 * the next run publishes. */
static void
test_heartbeat_failed_publish_never_updates_the_record(void **state)
{
    vtpm_conf conf;
    vtpm_report r;
    json_t *before, *after;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-fail", 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_REFUSED, NULL), VTPM_EXIT_REFUSED);
    assert_null(state_load(VTPM_STATE_PUBLISHED_FILE));
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    before = state_load(VTPM_STATE_PUBLISHED_FILE);
    assert_non_null(before);

    vtpm_test_report_init(&r, "hb-fail", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNREACHABLE, NULL), VTPM_EXIT_UNREACHABLE);
    after = state_load(VTPM_STATE_PUBLISHED_FILE);
    assert_true(json_equal(before, after));
    json_decref(after);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    assert_int_equal(fake_calls, 1);
    after = state_load(VTPM_STATE_PUBLISHED_FILE);
    assert_false(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

/* The publish reached the database, then the reporter died before it
 * recorded it: the next run publishes again (and the database says
 * "unchanged"), then records it. */
static vtpm_publish_status
crash_publish(void *ctx, const vtpm_report *report, vtpm_publish_result *out)
{
    vtpm_publisher_postgres.publish(ctx, report, out);
    _exit(out->status == VTPM_PUBLISH_CHANGED ? 99 : 98);
}

static void
test_heartbeat_crash_between_publish_and_record_publishes_again(void **state)
{
    vtpm_conf conf;
    vtpm_report r;
    vtpm_publish_result res;
    vtpm_run_options opts = { .no_delay = true };
    int status;
    pid_t pid;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-crash", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vtpm_publisher_ops ops = vtpm_publisher_postgres;
        vtpm_publisher pub;
        char err[256];

        ops.publish = crash_publish;
        pub.ops = &ops;
        pub.state = ops.open(&conf, err, sizeof(err));
        opts.publisher = &pub;
        _exit(vtpm_run(&conf, &r, &opts, NULL));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 99);   /* published, then died */
    assert_null(state_load(VTPM_STATE_PUBLISHED_FILE));
    {
        json_t *result = state_load(VTPM_STATE_RESULT_FILE);

        assert_non_null(result);   /* written before publishing */
        json_decref(result);
    }

    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNCHANGED);
    assert_int_equal(res.generation, 1);   /* it reached the database again */
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNCHANGED);
    assert_int_equal(res.generation, -1);  /* skipped: recorded this time */
    assert_non_null(strstr(res.message, "unchanged since published"));
}

/* A record that is not ours, or not a record, counts as none: published,
 * with a warning, never skipped. */
static void
test_heartbeat_distrusts_a_corrupt_or_foreign_record(void **state)
{
    static const char *const bad[] = { "garbage", "json", "writable", "foreign", "link" };
    char path[256], other[256], *log;
    vtpm_conf conf;
    vtpm_report r;
    int code;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-distrust", 0);
    state_path(path, sizeof(path), VTPM_STATE_PUBLISHED_FILE);
    vtpm_strfmt(other, sizeof(other), "%s/elsewhere.json", top);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad); i++) {
        assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
        assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, NULL), VTPM_EXIT_UNCHANGED);
        assert_int_equal(fake_calls, 0);   /* a good record skips */
        if (strcmp(bad[i], "garbage") == 0) {
            write_text(path, "{\"format\": 1, \"host\": \"hb-", 0600);
        } else if (strcmp(bad[i], "json") == 0) {
            write_text(path, "{\"format\": 1, \"host\": \"hb-distrust\", \"time\": 1}", 0600);
        } else if (strcmp(bad[i], "writable") == 0) {
            assert_int_equal(chmod(path, 0666), 0);
        } else if (strcmp(bad[i], "foreign") == 0) {
            if (geteuid() != 0)
                continue;   /* only root can give a file away */
            assert_int_equal(chown(path, 65534, 65534), 0);
        } else {
            assert_int_equal(rename(path, other), 0);
            assert_int_equal(symlink(other, path), 0);
        }
        log = fake_run_logged(&conf, &r, &code);
        assert_int_equal(code, VTPM_EXIT_OK);
        assert_int_equal(fake_calls, 1);
        if (!strstr(log, VTPM_STATE_PUBLISHED_FILE) || !strstr(log, "publishing"))
            fail_msg("%s: no warning: %s", bad[i], log);
        free(log);
    }
}

/* `inventory: both` after `postgres`: Placement has no record, so both are
 * published; then both are recorded. */
static void
test_heartbeat_both_publishes_when_one_inventory_has_no_record(void **state)
{
    vtpm_conf conf;
    vtpm_report r;
    vtpm_publish_result res;
    json_t *doc;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-both", 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    conf.inventory = VTPM_INVENTORY_POSTGRES | VTPM_INVENTORY_PLACEMENT;
    conf.placement.url = (char *)"http://127.0.0.1:1/placement";
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, &res), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 1);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_UNCHANGED, &res), VTPM_EXIT_UNCHANGED);
    assert_int_equal(fake_calls, 0);
    doc = state_load(VTPM_STATE_PUBLISHED_FILE);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "targets"),
                                                          "placement")),
                        "http://127.0.0.1:1/placement provider hb-both");
    assert_non_null(json_string_value(json_object_get(json_object_get(doc, "targets"),
                                                      "postgres")));
    json_decref(doc);
}

/* last-result.json: every concluded probe, whatever the publish did; an
 * inconclusive one never replaces it, and is published every run. */
static void
test_last_result_follows_every_concluded_probe_only(void **state)
{
    vtpm_conf conf;
    vtpm_report r;
    json_t *doc, *before, *t;
    long long now = (long long)time(NULL);

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-result", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    vtpm_strfmt(r.provider_uuid, sizeof(r.provider_uuid),
                "0b3e1f5a-7c55-4c1e-9a57-3b1f0e6f1a11");
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_REFUSED, NULL), VTPM_EXIT_REFUSED);
    doc = state_load(VTPM_STATE_RESULT_FILE);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "host")), "hb-result");
    assert_string_equal(json_string_value(json_object_get(doc, "provider_uuid")),
                        "0b3e1f5a-7c55-4c1e-9a57-3b1f0e6f1a11");
    assert_true(json_integer_value(json_object_get(doc, "time")) >= now);
    assert_true(json_integer_value(json_object_get(doc, "time")) <= now + 60);
    assert_int_equal(json_object_size(json_object_get(doc, "traits")), VTPM_TRAIT_COUNT);
    t = json_object_get(json_object_get(doc, "traits"), "COMPUTE_SECURITY_TPM_2_0");
    assert_true(json_is_true(json_object_get(t, "present")));
    assert_string_equal(json_string_value(json_object_get(t, "reason_code")), "ok");
    t = json_object_get(json_object_get(doc, "traits"), "COMPUTE_SECURITY_TPM_1_2");
    assert_true(json_is_false(json_object_get(t, "present")));
    assert_string_equal(json_string_value(json_object_get(t, "reason")),
                        "COMPUTE_SECURITY_TPM_1_2 absent in test");
    {
        char path[256];
        struct stat st;

        assert_int_equal(stat(state_path(path, sizeof(path), VTPM_STATE_RESULT_FILE), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);   /* nova-compute's user reads it */
        assert_int_equal(stat(state_dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
    }
    before = doc;

    vtpm_test_report_init(&r, "hb-result", 0);
    r.inconclusive = true;
    vtpm_strfmt(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirtd down");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_INCONCLUSIVE, NULL),
                         VTPM_EXIT_INCONCLUSIVE);
        assert_int_equal(fake_calls, 1);
    }
    doc = state_load(VTPM_STATE_RESULT_FILE);
    assert_true(json_equal(before, doc));
    json_decref(doc);
    json_decref(before);
}

/* The folder is made when missing (0755 whatever the umask); one others
 * can write, or a symbolic link, stops the run before it publishes. */
static void
test_state_dir_is_created_and_refused_when_others_can_write_it(void **state)
{
    char link_path[160];
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;
    mode_t old;

    (void)state;
    conf_init(&conf);
    vtpm_test_report_init(&r, "hb-dir", 0);
    old = umask(077);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, NULL), VTPM_EXIT_OK);
    umask(old);

    assert_int_equal(chmod(state_dir, 0777), 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, &res), VTPM_EXIT_USAGE);
    assert_int_equal(fake_calls, 0);
    assert_non_null(strstr(res.message, "others can write it"));
    assert_int_equal(chmod(state_dir, 0775), 0);
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, &res), VTPM_EXIT_USAGE);
    assert_int_equal(chmod(state_dir, 0755), 0);

    vtpm_strfmt(link_path, sizeof(link_path), "%s-link", state_dir);
    assert_int_equal(symlink(state_dir, link_path), 0);
    conf.state_dir = link_path;
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, &res), VTPM_EXIT_USAGE);
    assert_int_equal(fake_calls, 0);
    assert_non_null(strstr(res.message, "symbolic link"));

    /* a parent that does not exist is not made */
    conf.state_dir = (char *)"/nonexistent-vtpm/state";
    assert_int_equal(fake_run(&conf, &r, VTPM_PUBLISH_CHANGED, &res), VTPM_EXIT_USAGE);
    assert_non_null(strstr(res.message, "cannot create state folder"));
}

static int
group_setup(void **state)
{
    PGconn *admin;

    (void)state;
    vtpm_strfmt(top, sizeof(top), "/tmp/vtpm-test-heartbeat-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/run.lock", top);
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    PQfinish(admin);
    return 0;
}

static int
group_teardown(void **state)
{
    char *argv[] = { (char *)"rm", (char *)"-rf", (char *)"--", top, NULL };
    char out[64];

    (void)state;
    vtpm_test_pg_destroy(&pg);
    if (top[0] && vtpm_test_spawn(argv, out, sizeof(out)) != 0)
        fprintf(stderr, "cannot remove '%s'\n", top);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_skips_an_unchanged_report_without_connecting),
        cmocka_unit_test(test_heartbeat_publishes_again_once_it_expires),
        cmocka_unit_test(test_heartbeat_publishes_a_change_at_once),
        cmocka_unit_test(test_heartbeat_zero_publishes_every_run),
        cmocka_unit_test(test_heartbeat_failed_publish_never_updates_the_record),
        cmocka_unit_test(test_heartbeat_crash_between_publish_and_record_publishes_again),
        cmocka_unit_test(test_heartbeat_distrusts_a_corrupt_or_foreign_record),
        cmocka_unit_test(test_heartbeat_both_publishes_when_one_inventory_has_no_record),
        cmocka_unit_test(test_last_result_follows_every_concluded_probe_only),
        cmocka_unit_test(test_state_dir_is_created_and_refused_when_others_can_write_it),
    };

    return cmocka_run_group_tests_name("heartbeat", tests, group_setup, group_teardown);
}
