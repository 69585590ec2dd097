/* SPDX-License-Identifier: Apache-2.0 */
/* The key-manager check against Debian's real barbican-api on loopback (http and https), and against closed ports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "command.h"
#include "conf.h"
#include "decide.h"
#include "probe.h"
#include "probe_system.h"
#include "require.h"

static char tmp_root[64];
static char libvirtd_state[128];
static char barbican_dir[128];
static char barbican_port[16];
static int barbican_port_num;
static char barbican_tls_port[16];
static int barbican_tls_port_num;
static char pki_dir[128];
static char fixtures[512];
static bool barbican_started, libvirtd_started;

static bool
fixture_run(const char *const *argv)
{
    vtpm_command_opts opts = {.timeout = 120};
    vtpm_command_result res;
    int rc = vtpm_command_run(argv, &opts, &res);

    if (rc != 0)
        fprintf(stderr, "# %s %s failed: %s\n# %s", argv[0], argv[1], res.error, res.err);
    vtpm_command_result_clear(&res);
    return rc == 0;
}

/* A loopback TCP socket bound to a free port; listening when @listening. */
static int
loopback_socket(bool listening, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    if (listening)
        assert_int_equal(listen(fd, 4), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int
free_port(void)
{
    int port, fd = loopback_socket(false, &port);

    close(fd);
    return port;
}

static int
group_setup(void **state)
{
    const char *src = getenv("VTPM_SOURCE_ROOT");
    char script[600];

    (void)state;
    if (!src) {
        fprintf(stderr, "# VTPM_SOURCE_ROOT is not set: run through `meson test`\n");
        return -1;
    }
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/vtpm-test-km-XXXXXX");
    if (!mkdtemp(tmp_root))
        return -1;
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures", src);
    /* A throwaway CA and a server certificate for 127.0.0.1, for https. */
    snprintf(pki_dir, sizeof(pki_dir), "%s/pki", tmp_root);
    snprintf(script, sizeof(script), "%s/pki.sh", fixtures);
    {
        const char *argv[] = {script, pki_dir, NULL};

        if (!fixture_run(argv))
            return -1;
    }
    snprintf(barbican_dir, sizeof(barbican_dir), "%s/barbican", tmp_root);
    barbican_port_num = free_port();
    snprintf(barbican_port, sizeof(barbican_port), "%d", barbican_port_num);
    do
        barbican_tls_port_num = free_port();
    while (barbican_tls_port_num == barbican_port_num);
    snprintf(barbican_tls_port, sizeof(barbican_tls_port), "%d", barbican_tls_port_num);
    snprintf(script, sizeof(script), "%s/barbican.sh", fixtures);
    {
        char cert[192], key[192];
        const char *argv[] = {script, "start", barbican_dir, barbican_port,
                              barbican_tls_port, cert, key, NULL};

        snprintf(cert, sizeof(cert), "%s/server.pem", pki_dir);
        snprintf(key, sizeof(key), "%s/server.key", pki_dir);

        barbican_started = fixture_run(argv);
        if (!barbican_started)
            return -1;
    }
    snprintf(script, sizeof(script), "%s/libvirtd.sh", fixtures);
    snprintf(libvirtd_state, sizeof(libvirtd_state), "%s/libvirtd.state", tmp_root);
    {
        const char *argv[] = {script, "start", libvirtd_state, NULL};

        libvirtd_started = fixture_run(argv);
        if (!libvirtd_started)
            return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    char script[600];

    (void)state;
    if (barbican_started) {
        const char *argv[] = {script, "stop", barbican_dir, NULL};

        snprintf(script, sizeof(script), "%s/barbican.sh", fixtures);
        fixture_run(argv);
    }
    if (libvirtd_started) {
        const char *argv[] = {script, "stop", libvirtd_state, NULL};

        snprintf(script, sizeof(script), "%s/libvirtd.sh", fixtures);
        fixture_run(argv);
    }
    if (tmp_root[0]) {
        const char *argv[] = {"/bin/rm", "-rf", tmp_root, NULL};

        fixture_run(argv);
    }
    return 0;
}

static void
url_of(char *buf, size_t size, int port, const char *path)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", port, path);
}

static void
test_key_manager_check_reaches_real_barbican(void **state)
{
    vtpm_system_facts sys;
    char url[128];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    url_of(url, sizeof(url), barbican_port_num, "/");
    vtpm_system_key_manager_check(url, NULL, 5, &sys);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_OK);
    assert_true(sys.key_manager_checked);
    assert_true(sys.key_manager_reachable);
    /* barbican answers its versions document with 300 Multiple Choices */
    assert_int_equal(sys.key_manager_http_status, 300);
    assert_string_equal(sys.key_manager_error, "");
}

static void
test_key_manager_check_of_a_wrong_path_is_inconclusive(void **state)
{
    vtpm_system_facts sys;
    char url[128], expected[256];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    url_of(url, sizeof(url), barbican_port_num, "/no-such-thing");
    vtpm_system_key_manager_check(url, NULL, 5, &sys);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_false(sys.key_manager_reachable);
    assert_int_equal(sys.key_manager_http_status, 404);
    snprintf(expected, sizeof(expected), "key manager at '%s' answered HTTP 404", url);
    assert_string_equal(sys.key_manager_error, expected);
}

static void
test_key_manager_check_against_closed_port_is_inconclusive(void **state)
{
    vtpm_system_facts sys;
    char url[128];
    int port, fd = loopback_socket(false, &port); /* bound, never listening */

    (void)state;
    memset(&sys, 0, sizeof(sys));
    url_of(url, sizeof(url), port, "/");
    vtpm_system_key_manager_check(url, NULL, 5, &sys);
    close(fd);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_true(sys.key_manager_checked);
    assert_false(sys.key_manager_reachable);
    assert_int_equal(sys.key_manager_http_status, 0);
    assert_non_null(strstr(sys.key_manager_error, "unreachable"));
    assert_non_null(strstr(sys.key_manager_error, url));
}

static void
test_key_manager_check_of_a_silent_server_times_out(void **state)
{
    vtpm_system_facts sys;
    char url[128];
    int port, fd = loopback_socket(true, &port); /* accepts by backlog, never answers */
    double start = vtpm_clock_now();

    (void)state;
    memset(&sys, 0, sizeof(sys));
    url_of(url, sizeof(url), port, "/");
    vtpm_system_key_manager_check(url, NULL, 0.3, &sys);
    close(fd);
    assert_true(vtpm_clock_now() - start < 3.0);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_non_null(strstr(sys.key_manager_error, "unreachable"));
}

typedef struct {
    vtpm_conf conf;
    vtpm_facts facts;
    vtpm_report report;
} run;

/* Probes with a key manager at @url (none unless @configured), its CA bundle @ca_file. */
static void
probe_with_key_manager_ca(run *r, const char *url, const char *ca_file, bool check,
                          bool configured)
{
    char text[1024], err[256];

    snprintf(text, sizeof(text),
             "virt_type: qemu\nswtpm_enabled: true\ncache_dir: %s/cache\n%s%s%s%s%s%s%s",
             tmp_root,
             configured ? "key_manager:\n  backend: barbican\n  url: " : "",
             configured ? url : "",
             configured ? "\n  timeout: 5\n  check: " : "",
             configured ? (check ? "true\n" : "false\n") : "",
             ca_file ? "  ca_file: " : "", ca_file ? ca_file : "", ca_file ? "\n" : "");
    if (vtpm_conf_load_string("km.yaml", text, strlen(text), &r->conf, err, sizeof(err)))
        fail_msg("test config refused: %s", err);
    vtpm_probe_run(&r->conf, false, &r->facts);
    vtpm_decide(&r->facts, &r->conf, &r->report);
}

static void
probe_with_key_manager(run *r, const char *url, bool check, bool configured)
{
    probe_with_key_manager_ca(r, url, NULL, check, configured);
}

static void
test_traits_present_when_real_barbican_answers(void **state)
{
    run r = {0};
    char url[128];

    (void)state;
    url_of(url, sizeof(url), barbican_port_num, "/");
    probe_with_key_manager(&r, url, true, true);
    assert_int_equal(r.facts.libvirt.status, VTPM_PROBE_OK);
    assert_int_equal(r.facts.system.key_manager_status, VTPM_PROBE_OK);
    assert_false(r.report.inconclusive);
    assert_int_equal(r.report.traits[VTPM_TRAIT_TPM_2_0].state, VTPM_TRAIT_STATE_PRESENT);
    assert_string_equal(r.report.traits[VTPM_TRAIT_TPM_2_0].reason_code, "ok");
    assert_int_equal(r.report.traits[VTPM_TRAIT_SECRET_SECURITY_USER].state,
                     VTPM_TRAIT_STATE_PRESENT);
    vtpm_conf_clear(&r.conf);
}

static void
test_report_inconclusive_when_key_manager_unreachable(void **state)
{
    run r = {0};
    char url[128];
    int port, fd = loopback_socket(false, &port);

    (void)state;
    url_of(url, sizeof(url), port, "/");
    probe_with_key_manager(&r, url, true, true);
    close(fd);
    assert_int_equal(r.facts.system.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_true(r.report.inconclusive);
    assert_non_null(strstr(r.report.inconclusive_reason, "unreachable"));
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        assert_string_equal(r.report.traits[t].reason_code, "inconclusive");
    vtpm_conf_clear(&r.conf);
}

static void
test_unreachable_key_manager_is_not_checked_unless_asked(void **state)
{
    run r = {0};
    char url[128];
    int port, fd = loopback_socket(false, &port);

    (void)state;
    url_of(url, sizeof(url), port, "/");
    probe_with_key_manager(&r, url, false, true);
    close(fd);
    assert_int_equal(r.facts.system.key_manager_status, VTPM_PROBE_OK);
    assert_false(r.facts.system.key_manager_checked);
    assert_false(r.report.inconclusive);
    assert_string_equal(r.report.traits[VTPM_TRAIT_TPM_2_0].reason_code, "ok");
    vtpm_conf_clear(&r.conf);
}

static void
test_traits_absent_without_key_manager(void **state)
{
    run r = {0};

    (void)state;
    probe_with_key_manager(&r, NULL, false, false);
    assert_false(r.facts.system.key_manager_configured);
    assert_int_equal(r.facts.system.key_manager_status, VTPM_PROBE_FAILED);
    assert_false(r.report.inconclusive);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        assert_int_equal(r.report.traits[t].state, VTPM_TRAIT_STATE_ABSENT);
        assert_string_equal(r.report.traits[t].reason_code, "key_manager_not_configured");
    }
    vtpm_conf_clear(&r.conf);
}

static void
https_url(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "https://127.0.0.1:%d%s", barbican_tls_port_num, path);
}

static const char *
pki_file(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", pki_dir, name);
    return buf;
}

/* Fails with the whole text when @text lacks @needle. */
static void
assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' not in: %s", needle, text);
}

static void
test_key_manager_check_over_https_with_the_ca_file_reaches_real_barbican(void **state)
{
    vtpm_system_facts sys;
    char url[128], ca[256];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    https_url(url, sizeof(url), "/");
    vtpm_system_key_manager_check(url, pki_file(ca, sizeof(ca), "ca.pem"), 5, &sys);
    if (sys.key_manager_status != VTPM_PROBE_OK)
        fail_msg("not reachable: %s", sys.key_manager_error);
    assert_true(sys.key_manager_reachable);
    assert_int_equal(sys.key_manager_http_status, 300);
    assert_string_equal(sys.key_manager_error, "");
}

static void
test_key_manager_check_over_https_verifies_against_the_system_store_by_default(void **state)
{
    vtpm_system_facts sys;
    char url[128];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    https_url(url, sizeof(url), "/");
    vtpm_system_key_manager_check(url, NULL, 5, &sys);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_false(sys.key_manager_reachable);
    assert_int_equal(sys.key_manager_http_status, 0);
    assert_has(sys.key_manager_error, url);
    assert_has(sys.key_manager_error,
               "SSL certificate problem: unable to get local issuer certificate");
}

static void
test_key_manager_check_with_an_unrelated_ca_is_inconclusive(void **state)
{
    vtpm_system_facts sys;
    char url[128], ca[256];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    https_url(url, sizeof(url), "/");
    vtpm_system_key_manager_check(url, pki_file(ca, sizeof(ca), "other-ca.pem"), 5, &sys);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_int_equal(sys.key_manager_http_status, 0);
    assert_has(sys.key_manager_error,
               "SSL certificate problem: unable to get local issuer certificate");
}

static void
test_key_manager_check_with_a_missing_ca_file_says_so(void **state)
{
    vtpm_system_facts sys;
    char url[128], ca[256], expected[512];

    (void)state;
    memset(&sys, 0, sizeof(sys));
    https_url(url, sizeof(url), "/");
    vtpm_system_key_manager_check(url, pki_file(ca, sizeof(ca), "no-such-ca.pem"), 5, &sys);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_int_equal(sys.key_manager_http_status, 0);
    snprintf(expected, sizeof(expected), "cannot read key_manager.ca_file '%s': "
             "No such file or directory", ca);
    assert_string_equal(sys.key_manager_error, expected);
}

static void
test_traits_present_when_real_barbican_answers_over_https(void **state)
{
    run r = {0};
    char url[128], ca[256];

    (void)state;
    https_url(url, sizeof(url), "/");
    probe_with_key_manager_ca(&r, url, pki_file(ca, sizeof(ca), "ca.pem"), true, true);
    if (r.facts.system.key_manager_status != VTPM_PROBE_OK)
        fail_msg("key manager: %s", r.facts.system.key_manager_error);
    assert_false(r.report.inconclusive);
    assert_int_equal(r.report.traits[VTPM_TRAIT_TPM_2_0].state, VTPM_TRAIT_STATE_PRESENT);
    assert_int_equal(r.report.traits[VTPM_TRAIT_SECRET_SECURITY_USER].state,
                     VTPM_TRAIT_STATE_PRESENT);
    vtpm_conf_clear(&r.conf);
}

static void
test_report_inconclusive_when_the_key_manager_certificate_is_untrusted(void **state)
{
    run r = {0};
    char url[128], ca[256];

    (void)state;
    https_url(url, sizeof(url), "/");
    probe_with_key_manager_ca(&r, url, pki_file(ca, sizeof(ca), "other-ca.pem"), true, true);
    assert_int_equal(r.facts.system.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_true(r.report.inconclusive);
    assert_has(r.report.inconclusive_reason, "SSL certificate problem");
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        assert_string_equal(r.report.traits[t].reason_code, "inconclusive");
    vtpm_conf_clear(&r.conf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_manager_check_reaches_real_barbican),
        cmocka_unit_test(test_key_manager_check_of_a_wrong_path_is_inconclusive),
        cmocka_unit_test(test_key_manager_check_against_closed_port_is_inconclusive),
        cmocka_unit_test(test_key_manager_check_of_a_silent_server_times_out),
        cmocka_unit_test(test_traits_present_when_real_barbican_answers),
        cmocka_unit_test(test_report_inconclusive_when_key_manager_unreachable),
        cmocka_unit_test(test_unreachable_key_manager_is_not_checked_unless_asked),
        cmocka_unit_test(test_traits_absent_without_key_manager),
        cmocka_unit_test(test_key_manager_check_over_https_with_the_ca_file_reaches_real_barbican),
        cmocka_unit_test(test_key_manager_check_over_https_verifies_against_the_system_store_by_default),
        cmocka_unit_test(test_key_manager_check_with_an_unrelated_ca_is_inconclusive),
        cmocka_unit_test(test_key_manager_check_with_a_missing_ca_file_says_so),
        cmocka_unit_test(test_traits_present_when_real_barbican_answers_over_https),
        cmocka_unit_test(test_report_inconclusive_when_the_key_manager_certificate_is_untrusted),
    };

    vtpm_test_require_program("/usr/bin/uwsgi", "uwsgi-core");
    vtpm_test_require_program("openssl", "openssl");

    return cmocka_run_group_tests_name("key_manager_live", tests, group_setup,
                                       group_teardown);
}
