/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter's line loop: lines over the size limit, output that cannot be written, peers that wait for each answer. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "file.h"
#include "testutil.h"

static char *tmpdir;

#define ACCEPT_1_2                                                                     \
    "{\"result\":\"accept\",\"vtpm\":{\"version\":\"1.2\",\"model\":\"tpm-tis\","      \
    "\"secret_security\":\"user\"},\"required_traits\":[\"COMPUTE_SECURITY_TPM_1_2\","  \
    "\"COMPUTE_SECURITY_TPM_TIS\",\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER\"]}\n"
#define REQUEST_1_2 "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"1.2\"}}}\n"
#define GUARD_LINE                                                                    \
    "{\"instance\":{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\"}},"            \
    "\"owner\":\"alice\"},\"operation\":\"live-migrate\",\"requester\":{\"user\":\"alice\"}}\n"
#define TOO_LONG_1                                                                     \
    "{\"result\":\"reject\",\"code\":\"bad_input\","                                   \
    "\"message\":\"line 1: longer than 67108864 bytes\"}\n"

/* Writes all of @data to @fd. */
static void
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

/* What a child run of vtpm-filter did. */
typedef struct {
    int status;
    long maxrss_kib;
    char *out;
    char *err;
} child_run;

/*
 * Runs vtpm-filter @argv in a child whose standard input is a pipe; writes
 * @giant bytes of 'x' into it (a line without a newline yet), then @tail.
 */
static void
run_child_with_giant_line(char **argv, size_t giant, const char *tail, child_run *cr)
{
    int fds[2];
    FILE *out = tmpfile(), *err = tmpfile();
    char *block = malloc((size_t)1 << 20);
    struct rusage ru;
    int status, argc = 0;
    pid_t pid;

    assert_non_null(out);
    assert_non_null(err);
    assert_non_null(block);
    memset(block, 'x', (size_t)1 << 20);
    while (argv[argc])
        argc++;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        status = vtpm_filter_cli_main(argc, argv, out, err);
        fflush(err);
        _exit(status);
    }
    close(fds[0]);
    for (size_t done = 0; done < giant; done += (size_t)1 << 20)
        write_all(fds[1], block, giant - done < ((size_t)1 << 20) ? giant - done : (size_t)1 << 20);
    write_all(fds[1], tail, strlen(tail));
    close(fds[1]);
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    assert_true(WIFEXITED(status));
    cr->status = WEXITSTATUS(status);
    cr->maxrss_kib = ru.ru_maxrss;
    rewind(out);
    rewind(err);
    assert_int_equal(vtpm_file_read_stream(out, (size_t)1 << 20, &cr->out, &(size_t){ 0 }), 0);
    assert_int_equal(vtpm_file_read_stream(err, (size_t)1 << 20, &cr->err, &(size_t){ 0 }), 0);
    fclose(out);
    fclose(err);
    free(block);
}

/* 300 MB on one line: more than the limit, and more than the run may hold. */
#define GIANT ((size_t)300 << 20)
#define RSS_BOUND_KIB (250L << 10)

static void
test_jsonl_line_over_the_limit_is_answered_and_not_stored(void **state)
{
    char prog[] = "vtpm-filter", cmd[] = "check", jsonl[] = "--jsonl", dash[] = "-";
    char *argv[] = { prog, cmd, jsonl, dash, NULL };
    child_run cr;

    (void)state;
    run_child_with_giant_line(argv, GIANT, "\n" REQUEST_1_2, &cr);
    assert_int_equal(cr.status, 2);
    assert_string_equal(cr.out, TOO_LONG_1 ACCEPT_1_2);
    assert_string_equal(cr.err, "vtpm-filter: line 1: longer than 67108864 bytes\n");
    assert_true(cr.maxrss_kib < RSS_BOUND_KIB);
    free(cr.out);
    free(cr.err);
}

static void
test_hosts_line_over_the_limit_is_answered_and_not_stored(void **state)
{
    char *request = vt_path(tmpdir, "request.json");
    char prog[] = "vtpm-filter", cmd[] = "host", hosts[] = "--hosts", dash[] = "-";
    char *argv[] = { prog, cmd, hosts, dash, request, NULL };
    child_run cr;

    (void)state;
    vt_file_write(request, REQUEST_1_2, strlen(REQUEST_1_2));
    run_child_with_giant_line(argv, GIANT,
                              "\n{\"name\":\"h2\",\"traits\":[\"COMPUTE_SECURITY_TPM_1_2\"]}\n",
                              &cr);
    assert_int_equal(cr.status, 2);
    assert_true(strncmp(cr.out, TOO_LONG_1, strlen(TOO_LONG_1)) == 0);
    assert_non_null(strstr(cr.out + strlen(TOO_LONG_1), "{\"host\":\"h2\",\"result\":\"fail\""));
    assert_true(cr.maxrss_kib < RSS_BOUND_KIB);
    free(cr.out);
    free(cr.err);
    free(request);
}

/* A line of exactly the limit is read; one byte more is not. */
static void
test_jsonl_line_of_the_limit_is_read(void **state)
{
    char prog[] = "vtpm-filter", cmd[] = "check", jsonl[] = "--jsonl", dash[] = "-";
    char *argv[] = { prog, cmd, jsonl, dash, NULL };
    child_run cr;

    (void)state;
    /* 'x' * limit is invalid JSON, not too long: jansson's message says so. */
    run_child_with_giant_line(argv, (size_t)64 << 20, "\n", &cr);
    assert_int_equal(cr.status, 2);
    assert_null(strstr(cr.out, "longer than"));
    assert_non_null(strstr(cr.out, "invalid JSON"));
    free(cr.out);
    free(cr.err);
    run_child_with_giant_line(argv, ((size_t)64 << 20) + 1, "", &cr);
    assert_int_equal(cr.status, 2);
    assert_string_equal(cr.out, TOO_LONG_1);
    free(cr.out);
    free(cr.err);
}

/* Runs @argv (argv[0] included) with its output going to /dev/full. */
static void
assert_full_output_fails(const char *const *argv, const char *input)
{
    static const char expected[] =
        "vtpm-filter: cannot write output: No space left on device\n";
    char *path = vt_path(tmpdir, "input.json");
    char **copy = calloc(16, sizeof(*copy));
    FILE *full = fopen("/dev/full", "w");
    FILE *err = tmpfile();
    char *text;
    size_t len;
    int argc = 0;

    assert_non_null(copy);
    assert_non_null(full);
    assert_non_null(err);
    vt_file_write(path, input, strlen(input));
    for (; argv[argc]; argc++)
        copy[argc] = strcmp(argv[argc], "INPUT") == 0 ? path : (char *)(uintptr_t)argv[argc];
    assert_int_equal(vtpm_filter_cli_main(argc, copy, full, err), 2);
    rewind(err);
    assert_int_equal(vtpm_file_read_stream(err, 4096, &text, &len), 0);
    assert_string_equal(text, expected);
    free(text);
    fclose(full);
    fclose(err);
    free(copy);
    free(path);
}

static void
test_unwritable_output_is_an_error_with_a_message(void **state)
{
    static const char reject[] = "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"3\"}}}\n";
    const char *check[] = { "vtpm-filter", "check", "INPUT", NULL };
    const char *check_jsonl[] = { "vtpm-filter", "check", "--jsonl", "INPUT", NULL };
    const char *host[] = { "vtpm-filter", "host", "--traits", "COMPUTE_SECURITY_TPM_1_2",
                           "INPUT", NULL };
    const char *guard_argv[] = { "vtpm-filter", "guard", "INPUT", NULL };
    const char *guard_jsonl[] = { "vtpm-filter", "guard", "--jsonl", "INPUT", NULL };

    (void)state;
    assert_full_output_fails(check, REQUEST_1_2);
    assert_full_output_fails(check, reject);
    assert_full_output_fails(check_jsonl, REQUEST_1_2 REQUEST_1_2);
    assert_full_output_fails(check_jsonl, reject);
    assert_full_output_fails(host, REQUEST_1_2);
    assert_full_output_fails(host, reject);
    assert_full_output_fails(guard_argv, GUARD_LINE);
    assert_full_output_fails(guard_jsonl, GUARD_LINE GUARD_LINE);
}

static void
test_unwritable_hosts_output_is_an_error_with_a_message(void **state)
{
    static const char hosts_text[] =
        "{\"name\":\"h1\",\"traits\":[\"COMPUTE_SECURITY_TPM_2_0\"]}\n";
    char *hosts = vt_path(tmpdir, "hosts.jsonl");
    const char *argv[] = { "vtpm-filter", "host", "--hosts", hosts, "INPUT", NULL };

    (void)state;
    vt_file_write(hosts, hosts_text, strlen(hosts_text));
    assert_full_output_fails(argv, REQUEST_1_2);
    free(hosts);
}

/* Reads one line from @fd within a few seconds; fails the test otherwise. */
static void
read_answer(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len == 0 || buf[len - 1] != '\n') {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, 10000) != 1)
            fail_msg("no answer within 10 s (got '%.*s')", (int)len, buf);
        n = read(fd, buf + len, size - 1 - len);
        assert_true(n > 0);
        len += (size_t)n;
    }
    buf[len] = '\0';
}

/* A peer that writes a line and waits for its answer gets it before it
 * writes the next. */
static void
test_jsonl_answers_a_waiting_peer_at_once(void **state)
{
    char prog[] = "vtpm-filter", cmd[] = "check", jsonl[] = "--jsonl";
    char *argv[] = { prog, cmd, jsonl, NULL };
    int in[2], out[2], status;
    char buf[4096];
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *o;

        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        /* A pipe: fully buffered, as vtpm-filter's standard output is. */
        o = fdopen(out[1], "w");
        _exit(o ? vtpm_filter_cli_main(3, argv, o, stderr) : 99);
    }
    close(in[0]);
    close(out[1]);
    for (int i = 0; i < 3; i++) {
        write_all(in[1], REQUEST_1_2, strlen(REQUEST_1_2));
        read_answer(out[0], buf, sizeof(buf));
        assert_string_equal(buf, ACCEPT_1_2);
    }
    close(in[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(out[0]);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonl_line_over_the_limit_is_answered_and_not_stored),
        cmocka_unit_test(test_hosts_line_over_the_limit_is_answered_and_not_stored),
        cmocka_unit_test(test_jsonl_line_of_the_limit_is_read),
        cmocka_unit_test(test_unwritable_output_is_an_error_with_a_message),
        cmocka_unit_test(test_unwritable_hosts_output_is_an_error_with_a_message),
        cmocka_unit_test(test_jsonl_answers_a_waiting_peer_at_once),
    };
    int failed;

    signal(SIGPIPE, SIG_IGN);
    tmpdir = vt_tmpdir_new();
    failed = cmocka_run_group_tests_name("cli-stream", tests, NULL, NULL);
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    return failed;
}
