/* SPDX-License-Identifier: Apache-2.0 */
/* The config loader: golden files under tests/data/config/, the shipped example, defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <vtpm/filter.h>

#include "conf.h"
#include "golden.h"

static char this_host[256];

static const char *
str(const char *s)
{
    return s ? s : "(none)";
}

/* The build's default paths (meson's localstatedir, -Drundir) print as
 * "(default)", so the golden files hold whatever prefix the build has. */
static const char *
or_default(const char *s, const char *build_default)
{
    return s && strcmp(s, build_default) == 0 ? "(default)" : str(s);
}

/* Every field, one per line, in a stable form. */
static void
conf_dump(FILE *out, const vtpm_conf *conf)
{
    static const char *const modes[] = { "", "user", "host", "deployment" };

    fprintf(out, "uri: %s\n", str(conf->uri));
    fprintf(out, "virt_type: %s\n", str(conf->virt_type));
    fprintf(out, "swtpm_enabled: %s\n", conf->swtpm_enabled ? "true" : "false");
    fprintf(out, "swtpm_user: %s\nswtpm_group: %s\n", str(conf->swtpm_user),
            str(conf->swtpm_group));
    fprintf(out, "supported_tpm_secret_security:");
    for (int m = VTPM_SECRET_SECURITY_USER; m <= VTPM_SECRET_SECURITY_DEPLOYMENT; m++)
        if (conf->supported_secret_security & (1u << m))
            fprintf(out, " %s", modes[m]);
    fprintf(out, "\nlibvirt_timeout: %g", conf->libvirt_timeout);
    fprintf(out, "\nswtpm_search_path:");
    for (char **p = conf->swtpm_search_path; p && *p; p++)
        fprintf(out, " %s", *p);
    fprintf(out, "\nswtpm_timeout: %g\n", conf->swtpm_timeout);
    fprintf(out, "cache_dir: %s\n", or_default(conf->cache_dir, VTPM_CONF_DEFAULT_CACHE_DIR));
    fprintf(out, "key_manager.backend: %s\n", str(conf->key_manager_backend));
    fprintf(out, "key_manager.url: %s\n", str(conf->key_manager_url));
    fprintf(out, "key_manager.ca_file: %s\n", str(conf->key_manager_ca_file));
    fprintf(out, "key_manager.timeout: %g\n", conf->key_manager_timeout);
    fprintf(out, "key_manager.check: %s\n", conf->key_manager_check ? "true" : "false");
    fprintf(out, "host: %s\n",
            conf->host && strcmp(conf->host, this_host) == 0 ? "(this host)" : str(conf->host));
    fprintf(out, "provider_uuid: %s\n", str(conf->provider_uuid));
    fprintf(out, "inventory:%s%s\n", conf->inventory & VTPM_INVENTORY_POSTGRES ? " postgres" : "",
            conf->inventory & VTPM_INVENTORY_PLACEMENT ? " placement" : "");
    fprintf(out, "postgres.dsn: %s\n", str(conf->postgres_dsn));
    fprintf(out, "start_delay_max: %g\n", conf->start_delay_max);
    fprintf(out, "retries: %u\n", conf->retries);
    fprintf(out, "lock_file: %s\n", or_default(conf->lock_file, VTPM_CONF_DEFAULT_LOCK_FILE));
}

/* Loads reporter.yaml from the case folder, named as a user would name it. */
static int
conf_case(const vtpm_golden_case *c, FILE *out)
{
    char err[512];
    vtpm_conf conf;

    if (chdir(c->dir) != 0)
        return -1;
    if (vtpm_conf_load_file("reporter.yaml", &conf, err, sizeof(err)) < 0)
        fprintf(out, "error: %s\n", err);
    else
        conf_dump(out, &conf);
    vtpm_conf_clear(&conf);
    return 0;
}

static char *
example_path(char *buf, size_t size)
{
    const char *root = getenv("VTPM_SOURCE_ROOT");

    assert_non_null(root);
    snprintf(buf, size, "%s/dist/reporter.yaml.example", root);
    return buf;
}

/* The file we ship is exactly what the loader reads, with the values it shows. */
static void
test_conf_shipped_example_parses(void **state)
{
    char path[1024], err[512] = "";
    vtpm_conf conf;

    (void)state;
    example_path(path, sizeof(path));
    if (vtpm_conf_load_file(path, &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_string_equal(conf.uri, "qemu:///system");
    assert_string_equal(conf.virt_type, "kvm");
    assert_true(conf.swtpm_enabled);
    assert_string_equal(conf.swtpm_user, "tss");
    assert_int_equal(conf.supported_secret_security,
                     (1u << VTPM_SECRET_SECURITY_USER) | (1u << VTPM_SECRET_SECURITY_HOST));
    assert_string_equal(conf.swtpm_search_path[0], "/usr/local/bin");
    assert_string_equal(conf.swtpm_search_path[2], "/bin");
    assert_null(conf.swtpm_search_path[3]);
    assert_true(conf.libvirt_timeout == 30.0);
    assert_string_equal(conf.key_manager_backend, "barbican");
    assert_string_equal(conf.key_manager_url, "http://127.0.0.1:9311");
    assert_null(conf.key_manager_ca_file);
    assert_false(conf.key_manager_check);
    assert_int_equal(conf.inventory, VTPM_INVENTORY_POSTGRES);
    assert_string_equal(conf.postgres_dsn, "host=127.0.0.1 dbname=vtpm user=reporter");
    assert_true(conf.start_delay_max == 30.0);
    assert_int_equal(conf.retries, 3);
    assert_string_equal(conf.lock_file, "/run/vtpm-reporter.lock");
    assert_string_equal(conf.state_dir, "/var/lib/vtpm-placement");
    assert_true(conf.heartbeat == 300.0);
    vtpm_conf_clear(&conf);
}

/* Every key the loader knows is shown (set or commented out) in the example. */
static void
test_conf_shipped_example_documents_every_key(void **state)
{
    char path[1024];
    char *text;
    const char *name, *section;

    (void)state;
    text = vtpm_golden_read(example_path(path, sizeof(path)), NULL);
    assert_non_null(text);
    for (size_t i = 0; (name = vtpm_conf_key_at(i, &section)); i++) {
        char needle[128];

        snprintf(needle, sizeof(needle), "%s%s:", section[0] ? "  " : "\n", name);
        if (!strstr(text, needle)) {
            snprintf(needle, sizeof(needle), "%s# %s:", section[0] ? "  " : "\n", name);
            if (!strstr(text, needle)) {
                free(text);
                fail_msg("key '%s%s%s' is not in the example config", section,
                         section[0] ? "." : "", name);
                return;
            }
        }
    }
    free(text);
}

static void
test_conf_defaults_match_documentation(void **state)
{
    vtpm_conf conf;

    (void)state;
    setenv("PATH", "/usr/sbin:/usr/bin::/bin", 1);
    vtpm_conf_init_defaults(&conf);
    assert_string_equal(conf.uri, "qemu:///system");
    assert_string_equal(conf.virt_type, "kvm");
    assert_false(conf.swtpm_enabled);
    assert_string_equal(conf.swtpm_group, "tss");
    assert_string_equal(conf.swtpm_search_path[0], "/usr/sbin");
    assert_string_equal(conf.swtpm_search_path[1], "/usr/bin");
    assert_string_equal(conf.swtpm_search_path[2], "/bin"); /* empty part skipped */
    assert_null(conf.swtpm_search_path[3]);
    assert_true(conf.swtpm_timeout == 5.0);
    assert_true(conf.libvirt_timeout == 30.0);
    assert_null(conf.key_manager_backend);
    assert_string_equal(conf.host, this_host);
    assert_int_equal(conf.inventory, VTPM_INVENTORY_POSTGRES);
    assert_null(conf.postgres_dsn);
    assert_int_equal(conf.retries, 3);
    /* docs/reporter.md: under the build's localstatedir and rundir */
    assert_string_equal(conf.cache_dir, VTPM_LOCALSTATEDIR "/cache/vtpm-placement");
    assert_string_equal(conf.lock_file, VTPM_LOCK_FILE);
    assert_non_null(strstr(conf.lock_file, "/vtpm-reporter.lock"));
    assert_string_equal(conf.state_dir, VTPM_LOCALSTATEDIR "/lib/vtpm-placement");
    assert_true(conf.heartbeat == 300.0);
    vtpm_conf_clear(&conf);
    assert_null(conf.uri);
    vtpm_conf_clear(&conf); /* twice is fine */
    vtpm_conf_clear(NULL);
    setenv("PATH", "/usr/bin:/bin", 1);
}

/* heartbeat 0 (publish every run) and a state folder of one's own. */
static void
test_conf_reads_heartbeat_and_state_dir(void **state)
{
    static const char text[] = "heartbeat: 0\nstate_dir: /srv/vtpm/state\n";
    char err[256];
    vtpm_conf conf;

    (void)state;
    assert_int_equal(vtpm_conf_load_string("reporter.yaml", text, strlen(text), &conf, err,
                                           sizeof(err)), 0);
    assert_true(conf.heartbeat == 0.0);
    assert_string_equal(conf.state_dir, "/srv/vtpm/state");
    vtpm_conf_clear(&conf);
    /* no way to keep no state: nova-compute's driver needs the result */
    assert_int_equal(vtpm_conf_load_string("reporter.yaml", "state_dir: null\n", 16, &conf, err,
                                           sizeof(err)), -1);
    assert_non_null(strstr(err, "state_dir"));
    vtpm_conf_clear(&conf);
}

static void
test_conf_dsn_default_from_environment(void **state)
{
    vtpm_conf conf;

    (void)state;
    setenv("VTPM_DSN", "host=127.0.0.1 dbname=x", 1);
    vtpm_conf_init_defaults(&conf);
    unsetenv("VTPM_DSN");
    assert_string_equal(conf.postgres_dsn, "host=127.0.0.1 dbname=x");
    vtpm_conf_clear(&conf);
}

static void
test_conf_missing_file_names_the_file(void **state)
{
    char err[512];
    vtpm_conf conf;

    (void)state;
    assert_int_equal(vtpm_conf_load_file("/nonexistent/reporter.yaml", &conf, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "cannot open config '/nonexistent/reporter.yaml': "
                             "No such file or directory");
    assert_string_equal(conf.virt_type, "kvm"); /* the defaults, still to be cleared */
    vtpm_conf_clear(&conf);
}

static void
test_conf_error_leaves_only_defaults(void **state)
{
    static const char text[] = "swtpm_enabled: true\nvirt_type: qemu\nretries: x\n";
    char err[512];
    vtpm_conf conf;

    (void)state;
    assert_int_equal(vtpm_conf_load_string("inline.yaml", text, strlen(text), &conf, err,
                                           sizeof(err)),
                     -1);
    assert_string_equal(err, "inline.yaml:3:10: 'retries' must be a whole number from 0 to 100, "
                             "not 'x'");
    assert_false(conf.swtpm_enabled);
    assert_string_equal(conf.virt_type, "kvm");
    vtpm_conf_clear(&conf);
}

/* A message never overruns the caller's buffer, and still says where. */
static void
test_conf_error_fits_a_small_buffer(void **state)
{
    static const char text[] = "virt_type: xennnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n";
    char err[24];
    vtpm_conf conf;

    (void)state;
    memset(err, 'Z', sizeof(err));
    assert_int_equal(vtpm_conf_load_string("a.yaml", text, strlen(text), &conf, err, sizeof(err)),
                     -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "a.yaml:1:12: ", 13);
    vtpm_conf_clear(&conf);
}

/* The passphrase file of the client key: an absolute path, kept as given; null means none. */
/* postgres.key_file selects the signed mode: an absolute path, unset by default. */
static void
test_conf_reads_postgres_key_file(void **state)
{
    static const char text[] = "postgres:\n  key_file: /etc/vtpm-placement/host.key\n";
    static const char relative[] = "postgres:\n  key_file: host.key\n";
    char err[512] = "";
    vtpm_conf conf;

    (void)state;
    if (vtpm_conf_load_string("pool.yaml", text, strlen(text), &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_string_equal(conf.postgres_key_file, "/etc/vtpm-placement/host.key");
    vtpm_conf_clear(&conf);
    assert_null(conf.postgres_key_file);
    assert_int_equal(vtpm_conf_load_string("pool.yaml", relative, strlen(relative), &conf, err,
                                           sizeof(err)), -1);
    assert_non_null(strstr(err, "postgres.key_file"));
    assert_non_null(strstr(err, "absolute path"));
    assert_null(conf.postgres_key_file);
    vtpm_conf_clear(&conf);
}

static void
test_conf_reads_placement_key_password_file(void **state)
{
    static const char text[] =
        "inventory: placement\n"
        "placement:\n"
        "  url: https://127.0.0.1:8778\n"
        "  cert_file: /etc/vtpm-placement/client.pem\n"
        "  key_file: /etc/vtpm-placement/client.key\n"
        "  key_password_file: /etc/vtpm-placement/client.key.pass\n";
    static const char null_text[] =
        "placement:\n"
        "  key_password_file:\n";
    char err[512] = "";
    vtpm_conf conf;

    (void)state;
    if (vtpm_conf_load_string("tls.yaml", text, strlen(text), &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_string_equal(conf.placement.key_file, "/etc/vtpm-placement/client.key");
    assert_string_equal(conf.placement.key_password_file,
                        "/etc/vtpm-placement/client.key.pass");
    vtpm_conf_clear(&conf);
    assert_null(conf.placement.key_password_file);

    if (vtpm_conf_load_string("null.yaml", null_text, strlen(null_text), &conf, err,
                              sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_null(conf.placement.key_password_file);
    vtpm_conf_clear(&conf);
}

/* Writes @text to a new file of mode @mode in a temporary folder @dir. */
static void
conf_write(char *path, size_t size, const char *dir, const char *text, mode_t mode)
{
    FILE *fp;

    snprintf(path, size, "%s/reporter.yaml", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Like a private key: a config that holds a secret must not be readable by
 * group or others; one without a secret may be. */
static void
test_conf_refuses_readable_file_with_secret(void **state)
{
    static const struct {
        const char *text;
        const char *key;
    } secrets[] = {
        { "placement:\n  auth: password\n  password: Pw1\n", "placement.password" },
        { "placement:\n  auth: token\n  token: Tk1\n", "placement.token" },
        { "placement:\n  application_credential_secret: Ac1\n",
          "placement.application_credential_secret" },
        { "postgres:\n  dsn: host=h password=Db1\n", "postgres.dsn" },
        { "postgres:\n  dsn: postgresql://u:Db2@h/db\n", "postgres.dsn" },
        { "postgres:\n  dsn: postgresql://h/db?sslpassword=Db3\n", "postgres.dsn" },
        { "postgres:\n  dsn: postgresql://h/db?ssl%70ass%77ord=Db4\n", "postgres.dsn" },
    };
    static const char plain[] =
        "postgres:\n  dsn: host=h user=u passfile=/etc/pgpass\nplacement:\n  token:\n";
    char dir[] = "/tmp/vtpm-conf-XXXXXX", path[256], err[512], expect[512];
    vtpm_conf conf;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        conf_write(path, sizeof(path), dir, secrets[i].text, 0644);
        assert_int_equal(vtpm_conf_load_file(path, &conf, err, sizeof(err)), -1);
        snprintf(expect, sizeof(expect), "'%s' is a secret: config '%s' is readable by others "
                 "(mode 0644); chmod 0600 it", secrets[i].key, path);
        assert_string_equal(err, expect);
        assert_null(conf.placement.password);   /* the defaults only */
        vtpm_conf_clear(&conf);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(vtpm_conf_load_file(path, &conf, err, sizeof(err)), -1);
        vtpm_conf_clear(&conf);
        assert_int_equal(chmod(path, 0600), 0);
        if (vtpm_conf_load_file(path, &conf, err, sizeof(err)) < 0)
            fail_msg("%s", err);
        vtpm_conf_clear(&conf);
        unlink(path);
    }
    conf_write(path, sizeof(path), dir, plain, 0644);
    if (vtpm_conf_load_file(path, &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    vtpm_conf_clear(&conf);
    unlink(path);
    rmdir(dir);
}

/* Loads @text and returns the CPU-independent wall time it took, in seconds. */
static double
conf_load_timed(const char *text, size_t len, char *err, size_t errlen, int *rc)
{
    struct timespec a, b;
    vtpm_conf conf;

    clock_gettime(CLOCK_MONOTONIC, &a);
    *rc = vtpm_conf_load_string("deep.yaml", text, len, &conf, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &b);
    vtpm_conf_clear(&conf);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* Half a million levels, flow ("[[[...") or block ("- - - ..."), are refused
 * at once, where the document loader alone would take minutes. */
static void
test_conf_refuses_deep_nesting_quickly(void **state)
{
    enum { LEVELS = 500000 };
    char *text = malloc((size_t)LEVELS * 2 + 2);
    char err[512];
    double secs;
    int rc;

    (void)state;
    assert_non_null(text);
    memset(text, '[', LEVELS);
    memset(text + LEVELS, ']', LEVELS);
    secs = conf_load_timed(text, (size_t)LEVELS * 2, err, sizeof(err), &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(err, "deep.yaml:1:17: nested deeper than 16 levels");
    assert_true(secs < 1.0);

    for (size_t i = 0; i < LEVELS; i++) {
        text[i * 2] = '-';
        text[i * 2 + 1] = ' ';
    }
    text[(size_t)LEVELS * 2 - 1] = 'x';
    text[(size_t)LEVELS * 2] = '\n';
    secs = conf_load_timed(text, (size_t)LEVELS * 2 + 1, err, sizeof(err), &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(err, "deep.yaml:1:33: nested deeper than 16 levels");
    assert_true(secs < 1.0);
    free(text);
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_conf_shipped_example_parses),
        cmocka_unit_test(test_conf_shipped_example_documents_every_key),
        cmocka_unit_test(test_conf_defaults_match_documentation),
        cmocka_unit_test(test_conf_reads_heartbeat_and_state_dir),
        cmocka_unit_test(test_conf_dsn_default_from_environment),
        cmocka_unit_test(test_conf_missing_file_names_the_file),
        cmocka_unit_test(test_conf_error_leaves_only_defaults),
        cmocka_unit_test(test_conf_error_fits_a_small_buffer),
        cmocka_unit_test(test_conf_reads_postgres_key_file),
        cmocka_unit_test(test_conf_reads_placement_key_password_file),
        cmocka_unit_test(test_conf_refuses_deep_nesting_quickly),
        cmocka_unit_test(test_conf_refuses_readable_file_with_secret),
    };
    struct CMUnitTest *tests = NULL;
    size_t n = 0;

    /* the defaults depend on the environment: pin it */
    setenv("PATH", "/usr/bin:/bin", 1);
    unsetenv("VTPM_DSN");
    if (gethostname(this_host, sizeof(this_host)) != 0)
        snprintf(this_host, sizeof(this_host), "localhost");
    vtpm_tests_add(&tests, &n, fixed, sizeof(fixed) / sizeof(fixed[0]));
    if (vtpm_golden_add(&tests, &n, "config", "expected.txt", conf_case) < 0)
        return 1;
    return vtpm_tests_run("conf", tests, n);
}
