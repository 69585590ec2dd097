/* SPDX-License-Identifier: Apache-2.0 */
/* The command runner: output, exit codes, signals, timeouts, output caps, dry runs. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "command.h"

/*
 * True, with a note, where what posix_spawn() reports when exec fails cannot
 * be checked: valgrind runs its vfork-like clone as a plain fork, so the
 * failure only shows as the child's exit status 127 (meson test
 * --setup=valgrind sets the variable). cmocka's skip() would print "not ok".
 */
static bool
under_valgrind(void)
{
    if (!getenv("VTPM_TEST_UNDER_VALGRIND"))
        return false;
    print_message("# not checked: valgrind does not report a failed exec from posix_spawn\n");
    return true;
}

/* True while @pid runs (a zombie counts as ended). */
static bool
process_running(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return false;
    }
    fclose(f);
    p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void
test_command_captures_stdout_and_stderr(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 0);
    assert_int_equal(res.outcome, VTPM_COMMAND_EXITED);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out, "out\n");
    assert_int_equal(res.out_len, 4);
    assert_string_equal(res.err, "err\n");
    assert_false(res.out_truncated);
    assert_string_equal(res.error, "");
    vtpm_command_result_clear(&res);
}

static void
test_command_reports_non_zero_exit(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "echo partial; exit 7", NULL};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 1);
    assert_int_equal(res.outcome, VTPM_COMMAND_EXITED);
    assert_int_equal(res.exit_code, 7);
    assert_string_equal(res.out, "partial\n");
    assert_string_equal(res.error, "'/bin/sh' exited with status 7");
    vtpm_command_result_clear(&res);
}

static void
test_command_reports_signal(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "kill -SEGV $$", NULL};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 1);
    assert_int_equal(res.outcome, VTPM_COMMAND_SIGNALED);
    assert_int_equal(res.signal, SIGSEGV);
    assert_non_null(strstr(res.error, "killed by signal 11"));
    vtpm_command_result_clear(&res);
}

static void
test_command_missing_program_fails_to_spawn(void **state)
{
    const char *argv[] = {"/nonexistent/swtpm", "--version", NULL};
    vtpm_command_result res;

    (void)state;
    if (under_valgrind())
        return;
    assert_int_equal(vtpm_command_run(argv, NULL, &res), -1);
    assert_int_equal(res.outcome, VTPM_COMMAND_SPAWN_FAILED);
    assert_string_equal(res.error,
                        "cannot run '/nonexistent/swtpm': No such file or directory");
    assert_non_null(res.out);
    assert_non_null(res.err);
    vtpm_command_result_clear(&res);
}

static void
test_command_does_not_search_path(void **state)
{
    /* argv[0] is a path, never looked up: "sh" alone must not run. */
    const char *argv[] = {"sh", "-c", "exit 0", NULL};
    vtpm_command_result res;
    char *cwd;

    (void)state;
    if (under_valgrind())
        return;
    cwd = getcwd(NULL, 0);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(vtpm_command_run(argv, NULL, &res), -1);
    assert_int_equal(res.outcome, VTPM_COMMAND_SPAWN_FAILED);
    vtpm_command_result_clear(&res);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
}

static void
test_command_timeout_kills_child_and_its_group(void **state)
{
    /* The child starts a grandchild in its group, prints its pid and waits. */
    const char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
    vtpm_command_opts opts = {.timeout = 0.3};
    vtpm_command_result res;
    pid_t grandchild;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, &opts, &res), 1);
    assert_int_equal(res.outcome, VTPM_COMMAND_TIMED_OUT);
    assert_true(res.elapsed >= 0.29);
    assert_true(res.elapsed < 3.0);
    assert_string_equal(res.error, "'/bin/sh' timed out after 0.3 s");
    grandchild = (pid_t)strtol(res.out, NULL, 10);
    assert_true(grandchild > 0);
    /* SIGKILL is delivered at once but the kernel may need a moment. */
    for (int i = 0; i < 100 && process_running(grandchild); i++)
        usleep(10000);
    assert_false(process_running(grandchild));
    vtpm_command_result_clear(&res);
}

static void
test_command_timeout_of_silent_hang(void **state)
{
    const char *argv[] = {"/bin/sleep", "30", NULL};
    vtpm_command_opts opts = {.timeout = 0.2};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, &opts, &res), 1);
    assert_int_equal(res.outcome, VTPM_COMMAND_TIMED_OUT);
    assert_true(res.elapsed < 3.0);
    vtpm_command_result_clear(&res);
}

static void
test_command_leftover_grandchild_does_not_hold_the_pipes(void **state)
{
    /* The child exits at once; its background grandchild keeps stdout open. */
    const char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; exit 3", NULL};
    vtpm_command_opts opts = {.timeout = 20};
    vtpm_command_result res;
    pid_t grandchild;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, &opts, &res), 1);
    assert_int_equal(res.outcome, VTPM_COMMAND_EXITED);
    assert_int_equal(res.exit_code, 3);
    assert_true(res.elapsed < 5.0);
    grandchild = (pid_t)strtol(res.out, NULL, 10);
    assert_true(grandchild > 0);
    for (int i = 0; i < 100 && process_running(grandchild); i++)
        usleep(10000);
    assert_false(process_running(grandchild));
    vtpm_command_result_clear(&res);
}

static void
test_command_truncates_big_output_without_blocking(void **state)
{
    /* 8 MiB on stdout and 1 MiB on stderr, kept to 64 KiB each. */
    const char *argv[] = {"/bin/sh", "-c",
                          "head -c 8388608 /dev/zero; head -c 1048576 /dev/zero >&2", NULL};
    vtpm_command_opts opts = {.timeout = 20, .output_max = 65536};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, &opts, &res), 0);
    assert_int_equal(res.out_len, 65536);
    assert_true(res.out_truncated);
    assert_int_equal(res.err_len, 65536);
    assert_true(res.err_truncated);
    assert_int_equal(res.out[res.out_len], '\0');
    vtpm_command_result_clear(&res);
}

static void
test_command_keeps_binary_garbage_whole(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "printf 'a\\000b\\377c'", NULL};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 0);
    assert_int_equal(res.out_len, 5);
    assert_memory_equal(res.out, "a\0b\377c", 5);
    vtpm_command_result_clear(&res);
}

static void
test_command_stdin_is_empty(void **state)
{
    const char *argv[] = {"/bin/cat", NULL};
    vtpm_command_opts opts = {.timeout = 5};
    vtpm_command_result res;

    (void)state;
    assert_int_equal(vtpm_command_run(argv, &opts, &res), 0);
    assert_int_equal(res.out_len, 0);
    vtpm_command_result_clear(&res);
}

static void
test_command_does_not_leak_descriptors(void **state)
{
    const char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
    vtpm_command_result res;
    FILE *keep = tmpfile(); /* a descriptor the child must not see */

    (void)state;
    assert_non_null(keep);
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 0);
    /* 0, 1, 2 and the one ls opens to read the folder. */
    assert_string_equal(res.out, "0\n1\n2\n3\n");
    vtpm_command_result_clear(&res);
    fclose(keep);
}

typedef struct {
    int calls;
    char argv0[64];
    char argv1[64];
} dry_run_log;

static int
dry_run_answer(const char *const *argv, vtpm_command_result *res, void *opaque)
{
    dry_run_log *log = opaque;

    log->calls++;
    snprintf(log->argv0, sizeof(log->argv0), "%s", argv[0]);
    snprintf(log->argv1, sizeof(log->argv1), "%s", argv[1] ? argv[1] : "");
    res->exit_code = 4;
    vtpm_command_result_set_output(res, "canned", NULL);
    return 1;
}

static void
test_command_dry_run_spawns_nothing(void **state)
{
    const char *argv[] = {"/nonexistent/swtpm", "socket", NULL};
    dry_run_log log = {0};
    vtpm_command_result res;
    char err[128];

    (void)state;
    vtpm_command_set_dry_run(dry_run_answer, &log);
    assert_int_equal(vtpm_command_run(argv, NULL, &res), 1);
    assert_int_equal(log.calls, 1);
    assert_string_equal(log.argv0, "/nonexistent/swtpm");
    assert_string_equal(log.argv1, "socket");
    assert_int_equal(res.outcome, VTPM_COMMAND_EXITED);
    assert_int_equal(res.exit_code, 4);
    assert_string_equal(res.out, "canned");
    assert_string_equal(res.err, "");
    assert_string_equal(res.error, "'/nonexistent/swtpm' exited with status 4");
    vtpm_command_result_clear(&res);
    assert_null(vtpm_command_child_start(argv, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "dry-run"));
    vtpm_command_set_dry_run(NULL, NULL);
}

static void
test_command_child_runs_until_stopped(void **state)
{
    const char *argv[] = {"/bin/sleep", "30", NULL};
    vtpm_command_outcome outcome;
    vtpm_command_child *child;
    double start;
    char err[128];
    pid_t pid;
    int code;

    (void)state;
    child = vtpm_command_child_start(argv, NULL, err, sizeof(err));
    assert_non_null(child);
    pid = vtpm_command_child_pid(child);
    assert_false(vtpm_command_child_wait(child, 0.1, &outcome, &code));
    assert_true(process_running(pid));
    start = vtpm_clock_now();
    vtpm_command_child_stop(child, 2.0);
    assert_true(vtpm_clock_now() - start < 2.0);
    assert_false(process_running(pid));
}

static void
test_command_child_exit_is_seen(void **state)
{
    const char *argv[] = {"/bin/sh", "-c", "echo bye; exit 5", NULL};
    char log[] = "/tmp/vtpm-test-command-XXXXXX";
    vtpm_command_outcome outcome = VTPM_COMMAND_SIGNALED;
    vtpm_command_child *child;
    char err[128], buf[64] = "";
    int code = -1, fd;
    FILE *f;

    (void)state;
    fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    child = vtpm_command_child_start(argv, log, err, sizeof(err));
    assert_non_null(child);
    assert_true(vtpm_command_child_wait(child, 5.0, &outcome, &code));
    assert_int_equal(outcome, VTPM_COMMAND_EXITED);
    assert_int_equal(code, 5);
    vtpm_command_child_stop(child, 1.0);
    f = fopen(log, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    unlink(log);
    assert_string_equal(buf, "bye\n");
}

static void
test_command_format_quotes_odd_words(void **state)
{
    const char *argv[] = {"/usr/bin/swtpm", "socket", "--tpmstate", "dir=/tmp/a b", "", NULL};
    char buf[128];

    (void)state;
    assert_string_equal(vtpm_command_format(buf, sizeof(buf), argv),
                        "/usr/bin/swtpm socket --tpmstate 'dir=/tmp/a b' ''");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_captures_stdout_and_stderr),
        cmocka_unit_test(test_command_reports_non_zero_exit),
        cmocka_unit_test(test_command_reports_signal),
        cmocka_unit_test(test_command_missing_program_fails_to_spawn),
        cmocka_unit_test(test_command_does_not_search_path),
        cmocka_unit_test(test_command_timeout_kills_child_and_its_group),
        cmocka_unit_test(test_command_timeout_of_silent_hang),
        cmocka_unit_test(test_command_leftover_grandchild_does_not_hold_the_pipes),
        cmocka_unit_test(test_command_truncates_big_output_without_blocking),
        cmocka_unit_test(test_command_keeps_binary_garbage_whole),
        cmocka_unit_test(test_command_stdin_is_empty),
        cmocka_unit_test(test_command_does_not_leak_descriptors),
        cmocka_unit_test(test_command_dry_run_spawns_nothing),
        cmocka_unit_test(test_command_child_runs_until_stopped),
        cmocka_unit_test(test_command_child_exit_is_seen),
        cmocka_unit_test(test_command_format_quotes_odd_words),
    };

    return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
