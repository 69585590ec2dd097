/* SPDX-License-Identifier: Apache-2.0 */
/* examples/inventory_example against a real inventory: its answer, and its answer after a change. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"
#include "pg_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;
static char example[1024];

/* TPM 2.0 + TIS + user, and the same with CRB: what the example's request needs. */
#define BITS_TIS 22
#define BITS_CRB 26

/* Publishes host ex-@i with uuid ...-00000000000@i and trait bits @bits. */
static void
publish(int i, int bits)
{
    char sql[1024];
    char *v;

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT status FROM vtpm.publish('ex-%d', '00000000-0000-4000-8000-%012d', false, NULL, "
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', (%d >> t.bit) & 1 = 1, "
                "'code', 'c', 'reason', 'r')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL)",
                i, i, bits);
    v = vtpm_test_pg_value(admin, sql, NULL, 0);
    assert_string_equal(v, "changed");
    free(v);
}

static void
test_inventory_example_prints_the_hosts_that_can_take_the_request(void **state)
{
    static const char expected[] =
        "request: TPM 2.0 with a CRB interface\n"
        "6 of 8 hosts can take it\n"
        "  00000000-0000-4000-8000-000000000001\n"
        "  00000000-0000-4000-8000-000000000003\n"
        "  00000000-0000-4000-8000-000000000005\n"
        "  00000000-0000-4000-8000-000000000006\n"
        "  00000000-0000-4000-8000-000000000007\n"
        "  ... and 1 more\n";
    char *argv[] = { example, db_dsn, NULL };
    char out[2048] = "";

    (void)state;
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    assert_string_equal(out, expected);
}

/* Reads from @fd into @buf (NUL-terminated) until @text appears; fails after 20 s. */
static void
read_until(int fd, char *buf, size_t size, const char *text)
{
    size_t used = strlen(buf);

    while (!strstr(buf, text)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, 20000) != 1)
            fail_msg("no '%s' from the example; it printed: %s", text, buf);
        n = read(fd, buf + used, size - used - 1);
        if (n <= 0)
            fail_msg("the example stopped before '%s'; it printed: %s", text, buf);
        used += (size_t)n;
        buf[used] = '\0';
    }
}

static void
test_inventory_example_answers_again_when_a_host_changes(void **state)
{
    char *argv[] = { example, db_dsn, (char *)"30", NULL };
    char buf[4096] = "";
    int pipefd[2], status;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(example, argv);
        _exit(127);
    }
    close(pipefd[1]);
    read_until(pipefd[0], buf, sizeof(buf), "waiting for changes\n");
    /* ex-2 gains CRB: now 7 of the 8 hosts can take the request. */
    publish(2, BITS_CRB);
    read_until(pipefd[0], buf, sizeof(buf), "a host changed\n7 of 8 hosts can take it\n"
                                            "  00000000-0000-4000-8000-000000000001\n"
                                            "  00000000-0000-4000-8000-000000000002\n");
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(pipefd[0]);
    publish(2, BITS_TIS);
}

static void
test_inventory_example_unreachable_inventory_exits_1(void **state)
{
    char *argv[] = { example, (char *)"host=/nonexistent port=1 connect_timeout=2", NULL };
    char out[2048] = "";

    (void)state;
    /* The message goes to standard error; nothing is answered. */
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 1);
    assert_string_equal(out, "");
}

static int
group_setup(void **state)
{
    const char *build = getenv("VTPM_BUILD_ROOT");

    (void)state;
    vtpm_strfmt(example, sizeof(example), "%s/examples/inventory_example", build ? build : ".");
    if (access(example, X_OK) != 0) {
        fprintf(stderr, "no '%s': build the examples first\n", example);
        return -1;
    }
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    /* Eight hosts; all but ex-2 and ex-4 have CRB. */
    for (int i = 1; i <= 8; i++)
        publish(i, i == 2 || i == 4 ? BITS_TIS : BITS_CRB);
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
        cmocka_unit_test(test_inventory_example_prints_the_hosts_that_can_take_the_request),
        cmocka_unit_test(test_inventory_example_answers_again_when_a_host_changes),
        cmocka_unit_test(test_inventory_example_unreachable_inventory_exits_1),
    };

    return cmocka_run_group_tests_name("inventory-example", tests, group_setup, group_teardown);
}
