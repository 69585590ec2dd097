/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt probe is bounded: a libvirtd that accepts but never answers, and the child runner behind it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "clock.h"
#include "command.h"
#include "conf.h"
#include "decide.h"
#include "probe-priv.h"
#include "probe.h"
#include "publish.h"

/*
 * The fake libvirtd, shared by every case: a child of this program that
 * accepts connections on a Unix socket, keeps them open and never says a
 * word, as a wedged libvirtd does. It writes one byte to accepted_fd per
 * connection, so that a case can tell the probe really got that far.
 */
static char tmp_root[64];
static char sock_path[100];
static pid_t fake_pid = -1;
static int accepted_fd = -1;

static void
remove_tree(const char *path)
{
    const char *argv[] = {"/bin/rm", "-rf", path, NULL};
    vtpm_command_result res;

    vtpm_command_run(argv, NULL, &res);
    vtpm_command_result_clear(&res);
}

static void
fake_libvirtd_serve(int listen_fd, int notify_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        int c = accept(listen_fd, NULL, NULL);

        if (c < 0 && errno != EINTR)
            _exit(1);
        /* keep @c open: a closed connection would be an answer */
        if (c >= 0 && write(notify_fd, "c", 1) < 0)
            _exit(1);
    }
}

static int
group_setup(void **state)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int listen_fd, notify[2];

    (void)state;
    if (access("/usr/bin/swtpm", X_OK) != 0) {
        fprintf(stderr, "# /usr/bin/swtpm is missing: install swtpm and swtpm-tools "
                "with scripts/setup.sh\n");
        return -1;
    }
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/vtpm-test-lvto-XXXXXX");
    if (!mkdtemp(tmp_root))
        return -1;
    snprintf(sock_path, sizeof(sock_path), "%s/libvirt-sock", tmp_root);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listen_fd, 16) < 0 || pipe2(notify, O_CLOEXEC) < 0) {
        fprintf(stderr, "# cannot listen on '%s': %s\n", sock_path, strerror(errno));
        return -1;
    }
    fflush(NULL);
    fake_pid = fork();
    if (fake_pid < 0)
        return -1;
    if (fake_pid == 0) {
        close(notify[0]);
        fake_libvirtd_serve(listen_fd, notify[1]);
    }
    /* only the fake holds the socket: the probe's own child must not accept */
    close(listen_fd);
    close(notify[1]);
    accepted_fd = notify[0];
    if (fcntl(accepted_fd, F_SETFL, O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (fake_pid > 0) {
        kill(fake_pid, SIGKILL);
        while (waitpid(fake_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (accepted_fd >= 0)
        close(accepted_fd);
    if (tmp_root[0])
        remove_tree(tmp_root);
    return 0;
}

/* Connections the fake accepted since the last call. */
static int
fake_accepted(void)
{
    char buf[64];
    ssize_t n = read(accepted_fd, buf, sizeof(buf));

    return n > 0 ? (int)n : 0;
}

/* This program's children other than the fake: a child left behind is a bug. */
static int
stray_children(void)
{
    char path[64], text[512] = "";
    const char *p = text;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    f = fopen(path, "r");
    assert_non_null(f);
    if (!fgets(text, sizeof(text), f))
        text[0] = '\0';
    fclose(f);
    for (;;) {
        char *end;
        long pid = strtol(p, &end, 10);

        if (end == p)
            return n;
        if (pid != fake_pid)
            n++;
        p = end;
    }
}

static void
load_conf(vtpm_conf *conf, const char *text)
{
    char err[512];

    if (vtpm_conf_load_string("test.yaml", text, strlen(text), conf, err, sizeof(err)) != 0)
        fail_msg("test config refused: %s", err);
}

static void
test_probe_with_libvirtd_that_never_answers_is_inconclusive_at_the_timeout(void **state)
{
    char text[1024], want[300];
    vtpm_conf conf;
    vtpm_facts facts;
    vtpm_report report;
    double t;

    (void)state;
    snprintf(text, sizeof(text),
             "uri: \"qemu+unix:///system?socket=%s\"\n"
             "libvirt_timeout: 1\n"
             "virt_type: qemu\n"
             "swtpm_enabled: true\n"
             "cache_dir: %s/cache\n"
             "key_manager: {backend: barbican}\n",
             sock_path, tmp_root);
    load_conf(&conf, text);
    fake_accepted();

    t = vtpm_clock_now();
    vtpm_probe_run(&conf, false, &facts);
    t = vtpm_clock_now() - t;

    /* It waited for the whole second, and then stopped waiting: the upper
     * bound leaves room for a loaded CI machine, far below the 30 s default. */
    if (t < 1.0 || t > 10.0)
        fail_msg("the probe took %.2f s with libvirt_timeout 1", t);
    assert_true(fake_accepted() >= 1);
    assert_int_equal(stray_children(), 0);
    assert_int_equal(facts.libvirt.status, VTPM_PROBE_INCONCLUSIVE);
    snprintf(want, sizeof(want),
             "libvirt at 'qemu+unix:///system?socket=%s' did not answer within 1 s", sock_path);
    assert_string_equal(facts.libvirt.error, want);
    assert_string_equal(facts.libvirt.virt_type, "qemu");
    /* the other probes still ran */
    assert_int_equal(facts.swtpm.status, VTPM_PROBE_OK);
    assert_int_equal(facts.system.status, VTPM_PROBE_OK);

    vtpm_decide(&facts, &conf, &report);
    assert_true(report.inconclusive);
    assert_non_null(strstr(report.inconclusive_reason, "did not answer within 1 s"));
    for (int i = 0; i < VTPM_TRAIT_COUNT; i++)
        assert_string_equal(report.traits[i].reason_code, "inconclusive");
    vtpm_conf_clear(&conf);
}

static void
test_probe_cli_with_libvirtd_that_never_answers_exits_inconclusive(void **state)
{
    char conf_path[128], text[8192];
    size_t len;
    FILE *conf, *out, *err;
    char a0[] = "vtpm-reporter", a1[] = "probe", a2[] = "--config";
    char *argv[] = {a0, a1, a2, conf_path, NULL};
    double t;
    int rc;

    (void)state;
    snprintf(conf_path, sizeof(conf_path), "%s/reporter.yaml", tmp_root);
    conf = fopen(conf_path, "w");
    assert_non_null(conf);
    fprintf(conf, "uri: \"qemu+unix:///system?socket=%s\"\nlibvirt_timeout: 0.5\n"
            "virt_type: qemu\nswtpm_enabled: true\ncache_dir: %s/cache\n"
            "key_manager: {backend: barbican}\n", sock_path, tmp_root);
    assert_int_equal(fclose(conf), 0);
    out = tmpfile();
    err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);

    t = vtpm_clock_now();
    rc = vtpm_cli_main(4, argv, out, err);
    t = vtpm_clock_now() - t;
    rewind(out);
    len = fread(text, 1, sizeof(text) - 1, out);
    text[len] = '\0';
    fclose(out);
    fclose(err);

    assert_int_equal(rc, VTPM_EXIT_INCONCLUSIVE);
    if (t < 0.5 || t > 10.0)
        fail_msg("probe took %.2f s with libvirt_timeout 0.5", t);
    assert_non_null(strstr(text, "did not answer within 0.5 s"));
    assert_int_equal(stray_children(), 0);
}

/* ---- the child runner, on its own -------------------------------------- */

typedef struct {
    unsigned char bytes[200000]; /* larger than a pipe holds: read in pieces */
} big_answer;

static int
child_fill(const void *arg, void *out)
{
    big_answer *a = out;

    for (size_t i = 0; i < sizeof(a->bytes); i++)
        a->bytes[i] = (unsigned char)(i * 7 + *(const unsigned char *)arg);
    return 0;
}

static int
child_hang(const void *arg, void *out)
{
    (void)arg;
    (void)out;
    sleep(60); /* killed long before */
    return 0;
}

static int
child_die(const void *arg, void *out)
{
    (void)out;
    raise(*(const int *)arg);
    return 0;
}

static int
child_give_up(const void *arg, void *out)
{
    (void)arg;
    (void)out;
    return -1;
}

static void
test_child_answer_comes_back_whole(void **state)
{
    big_answer *a = calloc(1, sizeof(*a));
    unsigned char seed = 3;
    char err[200];

    (void)state;
    assert_non_null(a);
    assert_int_equal(vtpm_probe_child_run(child_fill, &seed, a, sizeof(*a), 10, err,
                                          sizeof(err)),
                     VTPM_PROBE_CHILD_OK);
    assert_string_equal(err, "");
    for (size_t i = 0; i < sizeof(a->bytes); i++)
        if (a->bytes[i] != (unsigned char)(i * 7 + seed))
            fail_msg("byte %zu differs", i);
    assert_int_equal(stray_children(), 0);
    free(a);
}

/* What the parent had not flushed yet comes out once, not once per process. */
static void
test_child_leaves_the_parents_unflushed_output_alone(void **state)
{
    big_answer *a = calloc(1, sizeof(*a));
    unsigned char seed = 1;
    char err[200], text[256];
    FILE *f = tmpfile();
    size_t len;

    (void)state;
    assert_non_null(a);
    assert_non_null(f);
    assert_int_equal(setvbuf(f, NULL, _IOFBF, 4096), 0);
    fputs("said once\n", f);
    assert_int_equal(vtpm_probe_child_run(child_fill, &seed, a, sizeof(*a), 10, err,
                                          sizeof(err)),
                     VTPM_PROBE_CHILD_OK);
    rewind(f);
    len = fread(text, 1, sizeof(text) - 1, f);
    text[len] = '\0';
    fclose(f);
    assert_string_equal(text, "said once\n");
    free(a);
}

static void
test_child_that_hangs_is_killed_at_the_deadline(void **state)
{
    char out[16], err[200];
    double t;

    (void)state;
    t = vtpm_clock_now();
    assert_int_equal(vtpm_probe_child_run(child_hang, NULL, out, sizeof(out), 0.3, err,
                                          sizeof(err)),
                     VTPM_PROBE_CHILD_TIMEOUT);
    t = vtpm_clock_now() - t;
    if (t < 0.3 || t > 5.0)
        fail_msg("took %.2f s with a 0.3 s timeout", t);
    assert_string_equal(err, "child process killed after 0.3 s");
    assert_int_equal(stray_children(), 0);
}

static void
test_child_that_dies_is_reported_with_its_signal(void **state)
{
    int sig = SIGTERM;
    char out[16], err[200];

    (void)state;
    assert_int_equal(vtpm_probe_child_run(child_die, &sig, out, sizeof(out), 10, err,
                                          sizeof(err)),
                     VTPM_PROBE_CHILD_FAILED);
    assert_string_equal(err, "child process died of signal 15 (Terminated) before answering");
    assert_int_equal(stray_children(), 0);
}

static void
test_child_that_gives_up_is_reported_with_its_status(void **state)
{
    char out[16], err[200];

    (void)state;
    assert_int_equal(vtpm_probe_child_run(child_give_up, NULL, out, sizeof(out), 10, err,
                                          sizeof(err)),
                     VTPM_PROBE_CHILD_FAILED);
    assert_string_equal(err, "child process exited with status 1 before answering");
    assert_int_equal(stray_children(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_with_libvirtd_that_never_answers_is_inconclusive_at_the_timeout),
        cmocka_unit_test(test_probe_cli_with_libvirtd_that_never_answers_exits_inconclusive),
        cmocka_unit_test(test_child_answer_comes_back_whole),
        cmocka_unit_test(test_child_leaves_the_parents_unflushed_output_alone),
        cmocka_unit_test(test_child_that_hangs_is_killed_at_the_deadline),
        cmocka_unit_test(test_child_that_dies_is_reported_with_its_signal),
        cmocka_unit_test(test_child_that_gives_up_is_reported_with_its_status),
    };

    return cmocka_run_group_tests_name("probe_libvirt_timeout", tests, group_setup,
                                       group_teardown);
}
