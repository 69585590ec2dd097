/* SPDX-License-Identifier: Apache-2.0 */
/* The vtpm-reporter command line: help, exit codes, config errors, probe --json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli.h"
#include "publish.h"

/* Where the swtpm probe may cache capabilities during these tests. */
static char cache_dir[] = "/tmp/vtpm-cli-cache-XXXXXX";

typedef struct {
    char *out, *err;
    size_t out_len, err_len;
} cli_result;

static int
cli_run(cli_result *r, const char *const *args)
{
    char *argv[16];
    int argc = 0;
    FILE *out, *err;
    int rc;

    argv[argc++] = (char *)"vtpm-reporter";
    for (; *args && argc < 15; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    memset(r, 0, sizeof(*r));
    out = open_memstream(&r->out, &r->out_len);
    err = open_memstream(&r->err, &r->err_len);
    assert_non_null(out);
    assert_non_null(err);
    rc = vtpm_cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static const char *
str_or(const char *s)
{
    return s ? s : "";
}

static void
cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

/* Writes @text to a temporary config file; returns its path in @path. */
static void
write_config(char *path, size_t size, const char *text)
{
    int fd;

    snprintf(path, size, "/tmp/vtpm-cli-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void
test_cli_help_documents_every_exit_code(void **state)
{
    static const char *const args[] = { "--help", NULL };
    cli_result r;
    char line[64];

    (void)state;
    assert_int_equal(cli_run(&r, args), 0);
    for (int code = VTPM_EXIT_OK; code < VTPM_EXIT_LAST; code++) {
        snprintf(line, sizeof(line), "\n  %d  ", code);
        if (!strstr(r.out, line))
            fail_msg("exit code %d is not in --help", code);
    }
    assert_non_null(strstr(r.out, "probe"));
    assert_non_null(strstr(r.out, "--deep"));
    assert_non_null(strstr(r.out, "vtpm-placement/reporter.yaml"));
    cli_result_free(&r);
}

static void
test_cli_version(void **state)
{
    static const char *const args[] = { "--version", NULL };
    cli_result r;

    (void)state;
    assert_int_equal(cli_run(&r, args), 0);
    assert_string_equal(r.out, "vtpm-reporter " VTPM_TEST_VERSION "\n");
    cli_result_free(&r);
}

static void
test_cli_usage_errors_exit_2(void **state)
{
    static const char *const none[] = { NULL };
    static const char *const unknown_cmd[] = { "publish", NULL };
    static const char *const unknown_opt[] = { "probe", "--fast", NULL };
    static const char *const no_value[] = { "probe", "--config", NULL };
    static const char *const extra[] = { "probe", "more", NULL };
    static const char *const json_run[] = { "run", "--json", NULL };
    static const char *const delay_probe[] = { "probe", "--no-delay", NULL };
    static const char *const force_probe[] = { "probe", "--force", NULL };
    cli_result r;

    (void)state;
    assert_int_equal(cli_run(&r, none), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "Usage:"));
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, unknown_cmd), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "unknown command 'publish'"));
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, unknown_opt), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "unknown option '--fast'"));
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, no_value), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "option '--config' needs a value"));
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, extra), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "unexpected argument 'more'"));
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, json_run), VTPM_EXIT_USAGE);
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, delay_probe), VTPM_EXIT_USAGE);
    cli_result_free(&r);
    assert_int_equal(cli_run(&r, force_probe), VTPM_EXIT_USAGE);
    assert_non_null(strstr(r.err, "--force applies to run only"));
    cli_result_free(&r);
}

static void
test_cli_config_error_exits_2_with_position(void **state)
{
    char path[64], expect[160];
    const char *args[] = { "probe", "--config", path, NULL };
    cli_result r;

    (void)state;
    write_config(path, sizeof(path), "swtpm_enabled: true\nswtpm_user: [tss]\n");
    assert_int_equal(cli_run(&r, args), VTPM_EXIT_USAGE);
    snprintf(expect, sizeof(expect),
             "vtpm-reporter: error: %s:2:13: 'swtpm_user' must be a string, not a list\n", path);
    assert_string_equal(r.err, expect);
    assert_string_equal(r.out, "");
    cli_result_free(&r);
    unlink(path);
}

static void
test_cli_missing_explicit_config_exits_2(void **state)
{
    static const char *const args[] = { "probe", "-c", "/nonexistent/r.yaml", NULL };
    cli_result r;

    (void)state;
    assert_int_equal(cli_run(&r, args), VTPM_EXIT_USAGE);
    assert_string_equal(r.err, "vtpm-reporter: error: cannot open config '/nonexistent/r.yaml': "
                               "No such file or directory\n");
    cli_result_free(&r);
}

static void
test_cli_run_to_placement_without_url_is_a_config_error(void **state)
{
    char path[64];
    const char *args[] = { "run", "--config", path, NULL };
    cli_result r;

    (void)state;
    write_config(path, sizeof(path), "inventory: placement\n");
    assert_int_equal(cli_run(&r, args), VTPM_EXIT_USAGE);
    assert_string_equal(r.err, "vtpm-reporter: error: placement needs a url\n");
    cli_result_free(&r);
    unlink(path);
}

/* With swtpm disabled, the answer does not depend on the host: all absent, exit 0. */
static void
test_cli_probe_json_with_swtpm_disabled(void **state)
{
    char path[64], text[256];
    const char *args[] = { "probe", "--json", "--config", path, NULL };
    json_t *doc, *traits, *value;
    json_error_t jerr;
    const char *name;
    cli_result r;

    (void)state;
    snprintf(text, sizeof(text), "swtpm_enabled: false\nhost: cli-test-host\ncache_dir: %s\n",
             cache_dir);
    write_config(path, sizeof(path), text);
    assert_int_equal(cli_run(&r, args), VTPM_EXIT_OK);
    doc = json_loads(r.out, 0, &jerr);
    if (!doc)
        fail_msg("probe --json printed invalid JSON: %s", jerr.text);
    assert_string_equal(json_string_value(json_object_get(doc, "host")), "cli-test-host");
    assert_true(json_is_false(json_object_get(doc, "inconclusive")));
    traits = json_object_get(doc, "traits");
    assert_int_equal(json_object_size(traits), 7);
    json_object_foreach(traits, name, value) {
        assert_true(json_is_false(json_object_get(value, "present")));
        assert_string_equal(json_string_value(json_object_get(value, "reason_code")),
                            "swtpm_disabled");
    }
    assert_true(json_is_object(json_object_get(json_object_get(doc, "facts"), "libvirt")));
    json_decref(doc);
    cli_result_free(&r);
    unlink(path);
}

/* The text form: one line per trait, "NAME: absent: reason [code]". */
static void
test_cli_probe_text_lists_every_trait_with_reason(void **state)
{
    char path[64], text[256];
    const char *args[] = { "probe", "--config", path, NULL };
    cli_result r;

    (void)state;
    snprintf(text, sizeof(text), "swtpm_enabled: true\nvirt_type: lxc\ncache_dir: %s\n",
             cache_dir);
    write_config(path, sizeof(path), text);
    assert_int_equal(cli_run(&r, args), VTPM_EXIT_OK);
    assert_non_null(strstr(r.out, "\n  COMPUTE_SECURITY_TPM_2_0: absent: virt_type 'lxc' cannot "
                                  "run a vTPM (needs kvm or qemu) [virt_type_unsupported]\n"));
    assert_non_null(strstr(r.out, "\n  COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT: absent: "));
    assert_non_null(strstr(r.out, "\nresult: 0 of 7 traits present\n"));
    cli_result_free(&r);
    unlink(path);
}

/* Distinctive secrets, none of which may reach any output. */
static const char *const secrets[] = { "Db-Pw-4711", "Ssl-Pw-4711", "S3cr3t-Pw-4711",
                                       "T0k3n-4711", "Ac-S3cr3t-4711", "Km-Pw-4711" };

static void
assert_no_secret(const cli_result *r)
{
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if ((r->out && strstr(r->out, secrets[i])) || (r->err && strstr(r->err, secrets[i])))
            fail_msg("'%s' shown:\nstdout: %s\nstderr: %s", secrets[i], str_or(r->out),
                     str_or(r->err));
    }
}

/* Runs @args on a config of @text (with cache_dir and lock_file added) and
 * checks that no secret reaches stdout or stderr; returns the exit code. */
static int
cli_run_secret_config(const char *text, const char *command, const char *option)
{
    char path[64], full[2048];
    const char *args[] = { command, "--config", path, option, NULL };
    char log_path[] = "/tmp/vtpm-cli-log-XXXXXX";
    cli_result r, log = { 0 };
    int rc, saved, log_fd;

    snprintf(full, sizeof(full), "%scache_dir: %s\nlock_file: %s/lock\nstate_dir: %s/state\n",
             text, cache_dir, cache_dir, cache_dir);
    write_config(path, sizeof(path), full);
    /* the log goes to the process's stderr: keep it, with the outputs */
    fflush(stderr);
    saved = dup(2);
    log_fd = mkstemp(log_path);
    assert_true(saved >= 0 && log_fd >= 0);
    assert_int_equal(dup2(log_fd, 2), 2);
    rc = cli_run(&r, args);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    log.out = calloc(1, 65536);
    assert_non_null(log.out);
    assert_true(pread(log_fd, log.out, 65535, 0) >= 0);
    close(log_fd);
    unlink(log_path);
    assert_no_secret(&r);
    assert_no_secret(&log);
    free(log.out);
    cli_result_free(&r);
    unlink(path);
    return rc;
}

/* Passwords, tokens, credential secrets and DSN passwords stay out of the
 * facts, the report and every message: probing, publishing to unreachable
 * inventories, and config errors alike. */
static void
test_cli_never_shows_configured_secrets(void **state)
{
    static const char placement[] =
        "swtpm_enabled: false\nhost: cli-secret-host\nretries: 0\ninventory: both\n"
        "postgres:\n  dsn: \"host=127.0.0.1 port=1 dbname=x user=u password=Db-Pw-4711 "
        "sslpassword=Ssl-Pw-4711 connect_timeout=2\"\n"
        "placement:\n  url: http://127.0.0.1:1/placement\n  auth: password\n"
        "  auth_url: http://127.0.0.1:1/v3\n  username: u\n  password: S3cr3t-Pw-4711\n"
        "  retries: 0\n  connect_timeout: 1\n";
    static const char credential[] =
        "swtpm_enabled: false\nretries: 0\ninventory: placement\n"
        "placement:\n  url: http://127.0.0.1:1/placement\n  auth: application_credential\n"
        "  auth_url: http://127.0.0.1:1/v3\n  application_credential_id: ac\n"
        "  application_credential_secret: Ac-S3cr3t-4711\n  connect_timeout: 1\n";
    static const char token[] =
        "swtpm_enabled: false\nretries: 0\ninventory: placement\n"
        "placement:\n  url: http://127.0.0.1:1/placement\n  auth: token\n"
        "  token: T0k3n-4711\n  connect_timeout: 1\n";
    static const char bad_dsn[] =
        "swtpm_enabled: false\nretries: 0\n"
        "postgres:\n  dsn: \"host=127.0.0.1 port=1 password=Db-Pw-4711 horse\"\n";
    static const char url_userinfo[] =
        "key_manager:\n  backend: barbican\n  url: http://admin:Km-Pw-4711@127.0.0.1:1/\n";

    (void)state;
    assert_int_equal(cli_run_secret_config(placement, "probe", "--json"), VTPM_EXIT_OK);
    assert_int_equal(cli_run_secret_config(placement, "probe", "-v"), VTPM_EXIT_OK);
    assert_int_not_equal(cli_run_secret_config(placement, "run", "--no-delay"), VTPM_EXIT_OK);
    assert_int_not_equal(cli_run_secret_config(credential, "run", "--no-delay"), VTPM_EXIT_OK);
    assert_int_not_equal(cli_run_secret_config(token, "run", "--no-delay"), VTPM_EXIT_OK);
    assert_int_not_equal(cli_run_secret_config(bad_dsn, "run", "--no-delay"), VTPM_EXIT_OK);
    assert_int_equal(cli_run_secret_config(url_userinfo, "probe", "--json"), VTPM_EXIT_USAGE);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help_documents_every_exit_code),
        cmocka_unit_test(test_cli_version),
        cmocka_unit_test(test_cli_usage_errors_exit_2),
        cmocka_unit_test(test_cli_config_error_exits_2_with_position),
        cmocka_unit_test(test_cli_missing_explicit_config_exits_2),
        cmocka_unit_test(test_cli_run_to_placement_without_url_is_a_config_error),
        cmocka_unit_test(test_cli_probe_json_with_swtpm_disabled),
        cmocka_unit_test(test_cli_probe_text_lists_every_trait_with_reason),
        cmocka_unit_test(test_cli_never_shows_configured_secrets),
    };

    int rc;
    pid_t pid;

    if (!mkdtemp(cache_dir))
        return 1;
    rc = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    /* the cache folder holds what the swtpm probe stored */
    pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", cache_dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return rc;
}
