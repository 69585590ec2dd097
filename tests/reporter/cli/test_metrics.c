/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-reporter run --metrics-file`: the file's content, carried values, atomic replacement, promtool. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "metrics.h"
#include "pg_fixture.h"
#include "publish.h"
#include "require.h"
#include "util.h"

static char dir[] = "/tmp/vtpm-metrics-XXXXXX";
static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin; /* the superuser, until the test stops the server */

/* The value of the series @series ("name" or "name{labels}") in @text, or -1 if absent. */
static double
series_value(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *line = text; line; line = strchr(line, '\n')) {
        line += line != text; /* past the newline */
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return -1;
}

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 65536);

    assert_non_null(f);
    assert_non_null(text);
    assert_true(fread(text, 1, 65535, f) > 0);
    fclose(f);
    return text;
}

/* promtool check metrics accepts @path: exposition format, names and HELP as it lints them. */
static void
assert_promtool_accepts(const char *path)
{
    char out[4096];
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)"promtool check metrics < \"$0\" 2>&1",
                     (char *)path, NULL };
    int rc = vtpm_test_spawn(argv, out, sizeof(out));

    if (rc != 0)
        fail_msg("promtool check metrics refused '%s' (%d): %s", path, rc, out);
}

static double
now_wall(void)
{
    return (double)time(NULL);
}

/* Rewrites @path with the first @from replaced by @to (same length). */
static void
file_replace(const char *path, const char *from, const char *to)
{
    char *text = read_text(path), *at = strstr(text, from);
    FILE *f;

    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to));
    for (size_t i = 0; to[i]; i++)
        at[i] = to[i];
    assert_non_null(f = fopen(path, "w"));
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    free(text);
}

/* A concluded run: every trait, its state; published at its start. */
static void
test_metrics_format_concluded_run_shows_every_trait(void **state)
{
    vtpm_metrics_run run;
    vtpm_report report = { 0 };
    char text[8192];

    (void)state;
    report.traits[VTPM_TRAIT_TPM_2_0].state = VTPM_TRAIT_STATE_PRESENT;
    report.traits[VTPM_TRAIT_TPM_CRB].state = VTPM_TRAIT_STATE_PRESENT;
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_report(&run, &report);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_UNCHANGED);
    assert_true(vtpm_metrics_format(&run, NULL, text, sizeof(text)) > 0);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        char series[128];

        snprintf(series, sizeof(series), "vtpm_reporter_trait_present{trait=\"%s\"}",
                 vtpm_trait_name((vtpm_trait)t));
        assert_true(series_value(text, series) ==
                    (t == VTPM_TRAIT_TPM_2_0 || t == VTPM_TRAIT_TPM_CRB ? 1 : 0));
    }
    assert_true(series_value(text, "vtpm_reporter_probe_concluded") == 1);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 3);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") ==
                series_value(text, "vtpm_reporter_last_run_timestamp_seconds"));
    assert_true(series_value(text, "vtpm_reporter_last_run_timestamp_seconds") >= now_wall() - 5);
    /* too small a buffer is refused, not cut */
    assert_int_equal(vtpm_metrics_format(&run, NULL, text, 100), -1);
}

/* A run that did not publish keeps the previous publish time; one whose
 * probe did not conclude keeps the previous traits. */
static void
test_metrics_format_carries_what_the_run_does_not_know(void **state)
{
    static const char previous[] =
        "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"} 1\n"
        "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_1_2\"} 0\n"
        "vtpm_reporter_last_publish_timestamp_seconds 1700000000.250\n";
    vtpm_metrics_run run;
    vtpm_report report = { .inconclusive = true };
    char text[8192];

    (void)state;
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_report(&run, &report);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_INCONCLUSIVE);
    assert_true(vtpm_metrics_format(&run, previous, text, sizeof(text)) > 0);
    assert_true(series_value(text, "vtpm_reporter_probe_concluded") == 0);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 4);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") ==
                1700000000.25);
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"}") == 1);
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_1_2\"}") == 0);
    /* not carried: what the previous file did not have */
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_CRB\"}") == -1);

    /* a run stopped before probing (configuration error) carries them too */
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_USAGE);
    assert_true(vtpm_metrics_format(&run, previous, text, sizeof(text)) > 0);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") ==
                1700000000.25);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 2);
}

/* A run that publishes shows when it recorded the publish, to the
 * millisecond; published.json keeps the whole seconds of that time. A run
 * skipped for the heartbeat relies on that publish and keeps the carried,
 * more precise value, also when the publish crossed into the next second
 * after the run started; a later publish (by a run that wrote no metrics
 * file) replaces an older carried value. */
static void
test_metrics_format_heartbeat_keeps_the_publish_time(void **state)
{
    vtpm_metrics_run run;
    vtpm_report report = { 0 };
    char first[8192], text[8192];

    (void)state;
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_report(&run, &report);
    run.started = 1700000009.990;
    run.published_at = 1700000010.010;
    vtpm_metrics_run_finish(&run, VTPM_EXIT_OK);
    assert_true(vtpm_metrics_format(&run, NULL, first, sizeof(first)) > 0);
    assert_true(series_value(first, "vtpm_reporter_last_publish_timestamp_seconds") ==
                1700000010.010);

    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_report(&run, &report);
    run.heartbeat_publish = 1700000010; /* published.json's "time" */
    vtpm_metrics_run_finish(&run, VTPM_EXIT_UNCHANGED);
    assert_false(run.published);
    assert_true(vtpm_metrics_format(&run, first, text, sizeof(text)) > 0);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") ==
                1700000010.010);

    run.heartbeat_publish = 1700000011;
    assert_true(vtpm_metrics_format(&run, first, text, sizeof(text)) > 0);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") ==
                1700000011);
}

/* What is not a plain non-negative number is not carried: 0, never published. */
static void
test_metrics_format_refuses_a_forged_previous_value(void **state)
{
    static const char *const previous[] = {
        "vtpm_reporter_last_publish_timestamp_seconds -5\n",
        "vtpm_reporter_last_publish_timestamp_seconds NaN\n",
        "vtpm_reporter_last_publish_timestamp_seconds +Inf\n",
        "vtpm_reporter_last_publish_timestamp_seconds 17 # x\n",
        "vtpm_reporter_last_publish_timestamp_seconds\n",
        "vtpm_reporter_last_publish_timestamp_seconds_x 5\n",
    };
    static const char trait[] =
        "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"} 7\n";
    vtpm_metrics_run run;
    char text[8192];

    (void)state;
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_UNREACHABLE);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(previous); i++) {
        assert_true(vtpm_metrics_format(&run, previous[i], text, sizeof(text)) > 0);
        assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == 0);
    }
    assert_true(vtpm_metrics_format(&run, trait, text, sizeof(text)) > 0);
    assert_null(strstr(text, "vtpm_reporter_trait_present"));
}

/* No temporary file is left in @path's folder. */
static void
assert_no_temporary_file(const char *folder)
{
    DIR *d = opendir(folder);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            fail_msg("temporary file '%s' left in '%s'", e->d_name, folder);
    }
    closedir(d);
}

/* A symbolic link at the metrics path is replaced, its target untouched;
 * the file is 0644 for node_exporter. */
static void
test_metrics_write_replaces_a_symlink_not_its_target(void **state)
{
    char path[256], victim[256], err[512];
    vtpm_metrics_run run;
    struct stat st;
    char *text;
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/link.prom", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    assert_non_null(f = fopen(victim, "w"));
    fputs("vtpm_reporter_last_publish_timestamp_seconds 1234\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, path), 0);

    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_UNREACHABLE);
    assert_int_equal(vtpm_metrics_write(path, &run, err, sizeof(err)), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    text = read_text(victim);
    assert_string_equal(text, "vtpm_reporter_last_publish_timestamp_seconds 1234\n");
    free(text);
    /* nor read through the link */
    text = read_text(path);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == 0);
    free(text);
    assert_promtool_accepts(path);
    unlink(victim);
    unlink(path);
    assert_no_temporary_file(dir);
}

/* A FIFO at the path does not hang the run; it is replaced. */
static void
test_metrics_write_does_not_block_on_a_fifo(void **state)
{
    char path[256], err[512];
    vtpm_metrics_run run;
    struct stat st;

    (void)state;
    snprintf(path, sizeof(path), "%s/fifo.prom", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_FAILURE);
    assert_int_equal(vtpm_metrics_write(path, &run, err, sizeof(err)), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);
}

/* A previous file of another user (in a folder others may write) is not
 * believed: its publish time would hide a host that stopped publishing. */
static void
test_metrics_write_ignores_a_previous_file_of_another_user(void **state)
{
    char path[256], err[512];
    vtpm_metrics_run run;
    char *text;
    FILE *f;

    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    snprintf(path, sizeof(path), "%s/foreign.prom", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("vtpm_reporter_last_publish_timestamp_seconds 4102444800\n", f);
    fclose(f);
    vtpm_metrics_run_start(&run);
    vtpm_metrics_run_finish(&run, VTPM_EXIT_UNREACHABLE);
    /* ours: carried */
    assert_int_equal(vtpm_metrics_write(path, &run, err, sizeof(err)), 0);
    text = read_text(path);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == 4102444800.0);
    free(text);
    /* another user's: not */
    assert_int_equal(chown(path, 65534, 65534), 0);
    assert_int_equal(vtpm_metrics_write(path, &run, err, sizeof(err)), 0);
    text = read_text(path);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == 0);
    free(text);
    unlink(path);
}

/* The folder must exist: checked before the run, a usage error. */
static void
test_metrics_check_path_refuses_a_missing_folder(void **state)
{
    char err[512], path[256];

    (void)state;
    snprintf(path, sizeof(path), "%s/nope/x.prom", dir);
    assert_int_equal(vtpm_metrics_check_path(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot use metrics folder"));
    snprintf(path, sizeof(path), "%s/", dir);
    assert_int_equal(vtpm_metrics_check_path(path, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/x.prom", dir);
    assert_int_equal(vtpm_metrics_check_path(path, err, sizeof(err)), 0);
}

static int
run_cli(const char *const *args)
{
    char *argv[16];
    int argc = 0;
    FILE *out = fopen("/dev/null", "w"), *err = fopen("/dev/null", "w");
    int rc;

    assert_non_null(out);
    assert_non_null(err);
    argv[argc++] = (char *)"vtpm-reporter";
    for (; *args && argc < 15; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    rc = vtpm_cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

/* Runs `run --metrics-file` (and @option, or NULL) with config @conf_text;
 * returns the exit status, the file in *@text. */
static int
run_with_metrics_and(const char *conf_text, const char *metrics, const char *option,
                     char **text)
{
    char conf[256];
    const char *args[] = { "run", "--no-delay", "--config", conf, "--metrics-file", metrics,
                           option, NULL };
    FILE *f;
    int rc;

    snprintf(conf, sizeof(conf), "%s/reporter.yaml", dir);
    assert_non_null(f = fopen(conf, "w"));
    fputs(conf_text, f);
    fclose(f);
    rc = run_cli(args);
    *text = read_text(metrics);
    assert_promtool_accepts(metrics);
    return rc;
}

static int
run_with_metrics(const char *conf_text, const char *metrics, char **text)
{
    return run_with_metrics_and(conf_text, metrics, NULL, text);
}

/* Against a real inventory: changed, unchanged, then the server gone; each
 * run's file says so, and the last publish time survives the failure. */
static void
test_metrics_file_follows_real_runs(void **state)
{
    char conf[2048], inconclusive[2048], metrics[256], rep_dsn[512];
    double published, t0 = now_wall();
    char *text, *v;

    (void)state;
    v = vtpm_test_pg_value(admin, "SELECT vtpm.bind_reporter('rep_metrics', 'metrics-host')",
                           NULL, 0);
    assert_non_null(v);
    free(v);
    PQfinish(admin);
    admin = NULL;
    vtpm_test_pg_dsn(&pg, "vtpm_test", "rep_metrics", rep_dsn, sizeof(rep_dsn));
    snprintf(conf, sizeof(conf),
             "swtpm_enabled: false\nhost: metrics-host\nretries: 0\ncache_dir: %s\n"
             "lock_file: %s/lock\nstate_dir: %s/state\n"
             "postgres:\n  dsn: \"%s connect_timeout=3\"\n",
             dir, dir, dir, rep_dsn);
    snprintf(metrics, sizeof(metrics), "%s/vtpm-reporter.prom", dir);

    assert_int_equal(run_with_metrics(conf, metrics, &text), VTPM_EXIT_OK);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 0);
    assert_true(series_value(text, "vtpm_reporter_probe_concluded") == 1);
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"}") == 0);
    published = series_value(text, "vtpm_reporter_last_publish_timestamp_seconds");
    assert_true(published >= t0 - 1 && published <= now_wall() + 1);
    assert_true(series_value(text, "vtpm_reporter_last_run_duration_seconds") >= 0);
    free(text);

    /* the same report within the heartbeat: not published, so the last
     * publish is still the first run's */
    assert_int_equal(run_with_metrics(conf, metrics, &text), VTPM_EXIT_UNCHANGED);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 3);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == published);
    free(text);
    /* ... and without the carried value, the time published.json records */
    unlink(metrics);
    assert_int_equal(run_with_metrics(conf, metrics, &text), VTPM_EXIT_UNCHANGED);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") >=
                (double)(long long)published);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") <
                published + 30);
    free(text);
    /* published (and unchanged in the database) when the heartbeat is ignored */
    assert_int_equal(run_with_metrics_and(conf, metrics, "--force", &text), VTPM_EXIT_UNCHANGED);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") > published);
    published = series_value(text, "vtpm_reporter_last_publish_timestamp_seconds");
    free(text);

    /* An earlier run found TPM 2.0 (the file says so); this one cannot reach
     * libvirt: inconclusive, recorded, nothing changed. The traits stay those
     * of the last concluded probe, the publish time that of the last
     * concluded report. */
    file_replace(metrics, "{trait=\"COMPUTE_SECURITY_TPM_2_0\"} 0",
                 "{trait=\"COMPUTE_SECURITY_TPM_2_0\"} 1");
    snprintf(inconclusive, sizeof(inconclusive),
             "swtpm_enabled: true\nuri: \"qemu+unix:///system?socket=%s/none\"\n"
             "key_manager:\n  backend: barbican\nhost: metrics-host\nretries: 0\n"
             "cache_dir: %s\nlock_file: %s/lock\nstate_dir: %s/state\n"
             "postgres:\n  dsn: \"%s connect_timeout=3\"\n",
             dir, dir, dir, dir, rep_dsn);
    assert_int_equal(run_with_metrics(inconclusive, metrics, &text), VTPM_EXIT_INCONCLUSIVE);
    assert_true(series_value(text, "vtpm_reporter_probe_concluded") == 0);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 4);
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"}") == 1);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == published);
    free(text);

    /* --force: the heartbeat would not even try the stopped server */
    assert_int_equal(vtpm_test_pg_stop(&pg), 0);
    assert_int_equal(run_with_metrics_and(conf, metrics, "--force", &text),
                     VTPM_EXIT_UNREACHABLE);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 5);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == published);
    assert_true(series_value(text, "vtpm_reporter_last_run_timestamp_seconds") >= published);
    free(text);

    /* a configuration error is a run too: exit 2, nothing else forgotten */
    assert_int_equal(run_with_metrics("retries: [\n", metrics, &text), VTPM_EXIT_USAGE);
    assert_true(series_value(text, "vtpm_reporter_last_run_exit_status") == 2);
    assert_true(series_value(text, "vtpm_reporter_last_publish_timestamp_seconds") == published);
    assert_true(series_value(text, "vtpm_reporter_trait_present{trait=\"COMPUTE_SECURITY_TPM_2_0\"}") == 0);
    free(text);
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);
    unlink(metrics);
    assert_no_temporary_file(dir);
}

/* --metrics-file is for run; a missing folder is refused before anything runs. */
static void
test_metrics_cli_usage_errors(void **state)
{
    char path[256];
    const char *probe[] = { "probe", "--metrics-file", path, NULL };
    const char *missing[] = { "run", "--config", "/nonexistent", "--metrics-file", path, NULL };

    (void)state;
    snprintf(path, sizeof(path), "%s/x.prom", dir);
    assert_int_equal(run_cli(probe), VTPM_EXIT_USAGE);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/no/x.prom", dir);
    assert_int_equal(run_cli(missing), VTPM_EXIT_USAGE);
}

static int
setup(void **state)
{
    (void)state;
    return mkdtemp(dir) &&
           vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) == 0
               ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[512];

    (void)state;
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1; /* banned-ok: a fixed command on our own folder */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_format_concluded_run_shows_every_trait),
        cmocka_unit_test(test_metrics_format_carries_what_the_run_does_not_know),
        cmocka_unit_test(test_metrics_format_heartbeat_keeps_the_publish_time),
        cmocka_unit_test(test_metrics_format_refuses_a_forged_previous_value),
        cmocka_unit_test(test_metrics_write_replaces_a_symlink_not_its_target),
        cmocka_unit_test(test_metrics_write_does_not_block_on_a_fifo),
        cmocka_unit_test(test_metrics_write_ignores_a_previous_file_of_another_user),
        cmocka_unit_test(test_metrics_check_path_refuses_a_missing_folder),
        cmocka_unit_test(test_metrics_file_follows_real_runs),
        cmocka_unit_test(test_metrics_cli_usage_errors),
    };

    vtpm_test_require_program("promtool", "prometheus");
    return cmocka_run_group_tests(tests, setup, teardown);
}
