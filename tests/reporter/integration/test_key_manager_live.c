/* SPDX-License-Identifier: Apache-2.0 */
/* The key-manager check against Debian's real barbican-api on loopback, and against closed ports. */
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

#include "command.h"
#include "conf.h"
#include "decide.h"
#include "probe.h"
#include "probe_system.h"

static char tmp_root[64];
static char libvirtd_state[128];
static char barbican_dir[128];
static char barbican_port[16];
static int barbican_port_num;
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
    snprintf(barbican_dir, sizeof(barbican_dir), "%s/barbican", tmp_root);
    barbican_port_num = free_port();
    snprintf(barbican_port, sizeof(barbican_port), "%d", barbican_port_num);
    snprintf(script, sizeof(script), "%s/barbican.sh", fixtures);
    {
        const char *argv[] = {script, "start", barbican_dir, barbican_port, NULL};

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
    double start = vtpm_command_now();

    (void)state;
    memset(&sys, 0, sizeof(sys));
    url_of(url, sizeof(url), port, "/");
    vtpm_system_key_manager_check(url, NULL, 0.3, &sys);
    close(fd);
    assert_true(vtpm_command_now() - start < 3.0);
    assert_int_equal(sys.key_manager_status, VTPM_PROBE_INCONCLUSIVE);
    assert_non_null(strstr(sys.key_manager_error, "unreachable"));
}

typedef struct {
    vtpm_conf conf;
    vtpm_facts facts;
    vtpm_report report;
} run;

static void
probe_with_key_manager(run *r, const char *url, bool check, bool configured)
{
    char text[1024], err[256];

    snprintf(text, sizeof(text),
             "virt_type: qemu\nswtpm_enabled: true\ncache_dir: %s/cache\n%s%s%s%s",
             tmp_root,
             configured ? "key_manager:\n  backend: barbican\n  url: " : "",
             configured ? url : "",
             configured ? "\n  timeout: 5\n  check: " : "",
             configured ? (check ? "true\n" : "false\n") : "");
    if (vtpm_conf_load_string("km.yaml", text, strlen(text), &r->conf, err, sizeof(err)))
        fail_msg("test config refused: %s", err);
    assert_int_equal(vtpm_probe_run(&r->conf, false, &r->facts), 0);
    vtpm_decide(&r->facts, &r->conf, &r->report);
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
    for (int t = 0; t < VTPM_TRAIT_LAST; t++)
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
    for (int t = 0; t < VTPM_TRAIT_LAST; t++) {
        assert_int_equal(r.report.traits[t].state, VTPM_TRAIT_STATE_ABSENT);
        assert_string_equal(r.report.traits[t].reason_code, "key_manager_not_configured");
    }
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
    };

    return cmocka_run_group_tests_name("key_manager_live", tests, group_setup,
                                       group_teardown);
}
