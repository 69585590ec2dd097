/* SPDX-License-Identifier: Apache-2.0 */
/* The test cluster fixture: a test program that dies without its teardown leaves no server behind. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "util.h"

/* Whether the postmaster whose pid file is in @dir runs. */
static bool
postmaster_alive(const char *dir, long *pid)
{
    char path[512], line[32];
    char *end;
    FILE *f;

    *pid = 0;
    vtpm_strfmt(path, sizeof(path), "%s/data/postmaster.pid", dir);
    f = fopen(path, "r");
    if (f) {
        /* The first line is the postmaster's pid. */
        if (fgets(line, sizeof(line), f)) {
            errno = 0;
            *pid = strtol(line, &end, 10);
            if (errno || end == line || (*end != '\n' && *end != '\0'))
                *pid = 0;
        }
        fclose(f);
    }
    return *pid > 0 && kill((pid_t)*pid, 0) == 0;
}

/* The pid in file @path if that process runs, else 0. */
static long
running_pid(const char *path)
{
    char line[32] = "";
    char *end;
    long pid = 0;
    FILE *f = fopen(path, "r");

    if (f) {
        if (fgets(line, sizeof(line), f)) {
            errno = 0;
            pid = strtol(line, &end, 10);
            if (errno || end == line)
                pid = 0;
        }
        fclose(f);
    }
    return pid > 0 && kill((pid_t)pid, 0) == 0 ? pid : 0;
}

/*
 * A child starts a cluster (and PgBouncer in front of it, where installed)
 * and aborts, as a test does when a sanitizer finds something: atexit() and
 * the teardown never run. The cluster's server and PgBouncer stop and the
 * folder goes anyway.
 */
static void
test_cluster_of_an_aborted_program_is_stopped_and_removed(void **state)
{
    char dir[sizeof(((vtpm_test_pg *)NULL)->dir)] = "";
    struct stat st;
    int fds[2], status;
    long pid = 0, bouncer_pid = 0;
    pid_t child;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct rlimit no_core = { 0, 0 };
        vtpm_test_pg pg;

        close(fds[0]);
        (void)setrlimit(RLIMIT_CORE, &no_core);
        if (vtpm_test_pg_start(&pg) != 0 || !postmaster_alive(pg.dir, &pid))
            _exit(2);
        if (access("/usr/sbin/pgbouncer", X_OK) == 0) {
            char bouncer[512], base[256];

            vtpm_strfmt(bouncer, sizeof(bouncer), "%s/pgbouncer", pg.dir);
            if (vtpm_test_pgbouncer_start(&pg, bouncer, "\"u\" \"p\"\n", base, sizeof(base)) != 0)
                _exit(4);
            vtpm_strfmt(bouncer, sizeof(bouncer), "%s/pgbouncer/pid", pg.dir);
            bouncer_pid = running_pid(bouncer);
        }
        if (write(fds[1], pg.dir, sizeof(pg.dir)) < 0 || write(fds[1], &pid, sizeof(pid)) < 0 ||
            write(fds[1], &bouncer_pid, sizeof(bouncer_pid)) < 0)
            _exit(3);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], dir, sizeof(dir)), (ssize_t)sizeof(dir));
    assert_int_equal(read(fds[0], &pid, sizeof(pid)), (ssize_t)sizeof(pid));
    assert_int_equal(read(fds[0], &bouncer_pid, sizeof(bouncer_pid)), (ssize_t)sizeof(bouncer_pid));
    dir[sizeof(dir) - 1] = '\0';
    close(fds[0]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    assert_true(WIFSIGNALED(status));

    /* The server had started; within a minute it is gone, and so is the folder. */
    for (int i = 0; i < 600 && (stat(dir, &st) == 0 || kill((pid_t)pid, 0) == 0 ||
                                (bouncer_pid > 0 && kill((pid_t)bouncer_pid, 0) == 0)); i++) {
        const struct timespec tick = { 0, 100 * 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    assert_int_not_equal(stat(dir, &st), 0);
    assert_true(pid > 0);
    assert_false(kill((pid_t)pid, 0) == 0);
    if (bouncer_pid > 0)
        assert_false(kill((pid_t)bouncer_pid, 0) == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_of_an_aborted_program_is_stopped_and_removed),
    };

    return cmocka_run_group_tests_name("pg_fixture", tests, NULL, NULL);
}
