/* SPDX-License-Identifier: Apache-2.0 */
/* What the three programs share: out of memory aborts with a message, one exit code table. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "alloc_inject.h"
#include "exit.h"

typedef enum { OOM_CALLOC, OOM_REALLOC, OOM_STRDUP, OOM_CHECK } oom_kind;

/* Runs one allocation that fails in a child; returns its wait status and
 * what it wrote on stderr in @err. */
static int
run_failing(oom_kind kind, char *err, size_t errlen)
{
    int pipefd[2], status = 0;
    ssize_t n;
    size_t used = 0;
    pid_t pid;

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *p = NULL;

        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        vtpm_test_alloc_refuse(1);
        switch (kind) {
        case OOM_CALLOC: p = vtpm_alloc_calloc(4, 16); break;
        case OOM_REALLOC: p = vtpm_alloc_realloc(NULL, 64); break;
        case OOM_STRDUP: p = vtpm_alloc_strdup("text"); break;
        case OOM_CHECK: p = VTPM_ALLOC_CHECK((char *)NULL); break;
        }
        free(p);
        _exit(0);
    }
    close(pipefd[1]);
    while (used + 1 < errlen && (n = read(pipefd[0], err + used, errlen - 1 - used)) > 0)
        used += (size_t)n;
    err[used] = '\0';
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void
test_out_of_memory_aborts_with_a_message(void **state)
{
    oom_kind kinds[] = { OOM_CALLOC, OOM_REALLOC, OOM_STRDUP, OOM_CHECK };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int status = run_failing(kinds[i], err, sizeof(err));

        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_string_equal(err, "out of memory\n");
    }
}

static void
test_allocations_that_succeed_return_memory(void **state)
{
    char *s = vtpm_alloc_strdup("abc");
    char *z = vtpm_alloc_calloc(0, 0);

    (void)state;
    assert_string_equal(s, "abc");
    s = vtpm_alloc_realloc(s, 8);
    assert_string_equal(s, "abc");
    assert_non_null(z);
    free(s);
    free(z);
}

/* The codes a program's --help lists, as "0,1,2". */
static void
help_codes(vtpm_exit_program program, char *codes, size_t len)
{
    char *text = NULL, *line;
    size_t size = 0, used = 0;
    FILE *f = open_memstream(&text, &size);

    assert_non_null(f);
    vtpm_exit_print_help(f, program);
    fclose(f);
    codes[0] = '\0';
    assert_true(strncmp(text, "Exit status:\n", 13) == 0);
    for (line = strchr(text, '\n'); line; line = strchr(line + 1, '\n')) {
        if (line[1] == ' ' && line[2] == ' ' && line[3] >= '0' && line[3] <= '9') {
            snprintf(codes + used, len - used, "%s%c", used ? "," : "", line[3]);
            used = strlen(codes);
        }
    }
    free(text);
}

static void
test_each_program_lists_the_codes_it_uses(void **state)
{
    char codes[64];

    (void)state;
    help_codes(VTPM_EXIT_FOR_REPORTER, codes, sizeof(codes));
    assert_string_equal(codes, "0,1,2,3,4,5,6,7");
    help_codes(VTPM_EXIT_FOR_FILTER, codes, sizeof(codes));
    assert_string_equal(codes, "0,1,2,5,6");
    help_codes(VTPM_EXIT_FOR_INVENTORY, codes, sizeof(codes));
    assert_string_equal(codes, "0,1,2,5");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_memory_aborts_with_a_message),
        cmocka_unit_test(test_allocations_that_succeed_return_memory),
        cmocka_unit_test(test_each_program_lists_the_codes_it_uses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
