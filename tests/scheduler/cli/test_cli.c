/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter in process: golden cases from tests/data/cli/ (args, input, stdout, stderr, status). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "testutil.h"

static char *tmpdir;

typedef struct {
    char *dir;  /* tests/data/cli/<name> */
    char *name;
} cli_case;

/* Splits the "args" file: one argument per line, empty lines are empty arguments. */
static char **
args_load(const char *path, size_t *n)
{
    char *text = vt_file_read(path, NULL);
    char **v = NULL, *line, *nl;
    size_t count = 0;

    if (!text) {
        fail_msg("missing '%s'", path);
        return NULL;
    }
    for (line = text; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            fail_msg("'%s': the last argument needs a newline", path);
        /* fail_msg() does not return, but cmocka 1.1 does not declare it noreturn.
         * NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        *nl = '\0';
        v = realloc(v, (count + 2) * sizeof(*v));
        assert_non_null(v);
        v[count] = strdup(line);
        assert_non_null(v[count]);
        count++;
    }
    if (!v)
        v = calloc(1, sizeof(*v));
    assert_non_null(v);
    v[count] = NULL;
    free(text);
    *n = count;
    return v;
}

/* Copies data file @name of the case, when it exists, to @work/@name. */
static void
case_copy(const cli_case *cc, const char *work, const char *name)
{
    char *src = vt_path(cc->dir, name), *dst = vt_path(work, name);
    size_t len;
    char *data = vt_file_read(src, &len);

    if (data)
        vt_file_write(dst, data, len);
    free(data);
    free(dst);
    free(src);
}

/* Compares @actual with the golden file @name of the case, or rewrites it. */
static bool
golden_check(const cli_case *cc, const char *name, const char *actual)
{
    char *path = vt_path(cc->dir, name);
    char *expected = vt_file_read(path, NULL);
    bool same = expected && strcmp(expected, actual) == 0;

    if (vt_regenerate()) {
        if (!same)
            vt_file_write(path, actual, strlen(actual));
        same = true;
    } else if (!same) {
        print_error("%s differs\n--- expected ---\n%s\n--- actual ---\n%s\n--- end ---\n",
                    path, expected ? expected : "(missing file)", actual);
    }
    free(expected);
    free(path);
    return same;
}

static void
test_cli_case(void **state)
{
    const cli_case *cc = *state;
    char *work = vt_path(tmpdir, cc->name);
    char *args_path = vt_path(cc->dir, "args");
    size_t n_args = 0, i;
    char **args = args_load(args_path, &n_args);
    const char **argv = calloc(n_args + 2, sizeof(*argv));
    char status[16];
    bool ok = true;
    vt_run run;

    assert_non_null(argv);
    if (mkdir(work, 0700) != 0)
        fail_msg("mkdir '%s': %s", work, strerror(errno));
    case_copy(cc, work, "input");
    case_copy(cc, work, "hosts");
    argv[0] = "vtpm-filter";
    for (i = 0; i < n_args; i++) {
        static const char *const names[] = { "input", "hosts", "missing" };
        size_t k;

        argv[i + 1] = args[i];
        if (strcmp(args[i], "@tmp") == 0) {
            free(args[i]);
            args[i] = strdup(work);
            argv[i + 1] = args[i];
        }
        for (k = 0; k < 3; k++) {
            if (args[i][0] == '@' && strcmp(args[i] + 1, names[k]) == 0) {
                free(args[i]);
                args[i] = vt_path(work, names[k]);
                argv[i + 1] = args[i];
            }
        }
    }
    argv[n_args + 1] = NULL;
    vt_cli_run(argv, &run);

    /* Paths differ per run: show them as @tmp. */
    run.out = vt_str_replace(run.out, work, "@tmp");
    run.err = vt_str_replace(run.err, work, "@tmp");
    snprintf(status, sizeof(status), "%d\n", run.status);
    ok = golden_check(cc, "status", status) && ok;
    ok = golden_check(cc, "stdout", run.out) && ok;
    ok = golden_check(cc, "stderr", run.err) && ok;
    /* Exit status 2 always comes with a message; 0 and 1 never print to stderr. */
    if (run.status == 2)
        assert_true(strlen(run.err) > 0);
    else
        assert_string_equal(run.err, "");
    if (!ok)
        fail_msg("%s: output differs (if intended, rerun with VTPM_TEST_REGENERATE=1 "
                 "and review the diff)", cc->name);

    vt_run_clear(&run);
    vt_strv_free(args);
    free((void *)argv);
    free(args_path);
    free(work);
}

/* Runs vtpm-filter with a fixed argument list. */
static void
cli(vt_run *run, const char *a1, const char *a2, const char *a3, const char *a4)
{
    const char *argv[6] = { "vtpm-filter", a1, a2, a3, a4, NULL };

    vt_cli_run(argv, run);
}

/* Every example in --help runs and prints what the help says it prints. */
static void
test_help_examples_run_as_shown(void **state)
{
    static const char *const commands[] = { "check", "host", "guard" };
    bool seen[3] = { false, false, false };
    vt_run help, run;
    const char *p;

    (void)state;
    cli(&help, "--help", NULL, NULL, NULL);
    assert_int_equal(help.status, 0);
    assert_string_equal(help.err, "");
    p = strstr(help.out, "Examples:\n");
    assert_non_null(p);
    while ((p = strstr(p, "echo '"))) {
        const char *json = p + 6, *end = strchr(json, '\''), *pipe, *eol, *shown, *shown_end;
        char *doc, *line, *tok, *save = NULL, *path;
        const char *argv[16];
        size_t k, j = 0;
        int argc = 0;

        assert_non_null(end);
        /* The JSON may continue over lines ending in a backslash. */
        doc = calloc(1, (size_t)(end - json) + 1);
        assert_non_null(doc);
        for (k = 0; json + k < end; k++) {
            if (json[k] == '\n') {
                while (j > 0 && doc[j - 1] == ' ')
                    j--;
                while (json[k + 1] == ' ')
                    k++;
                continue;
            }
            doc[j++] = json[k];
        }
        pipe = strstr(end, "| vtpm-filter ");
        assert_non_null(pipe);
        eol = strchr(pipe, '\n');
        assert_non_null(eol);
        line = strndup(pipe + strlen("| vtpm-filter "), (size_t)(eol - pipe) - strlen("| vtpm-filter "));
        assert_non_null(line);
        shown = eol + 1;
        while (*shown == ' ')
            shown++;
        shown_end = strchr(shown, '\n');
        assert_non_null(shown_end);

        path = vt_path(tmpdir, "example.json");
        vt_file_write(path, doc, strlen(doc));
        argv[argc++] = "vtpm-filter";
        for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
            argv[argc++] = tok;
        argv[argc++] = path;
        argv[argc] = NULL;
        for (k = 0; k < 3; k++)
            seen[k] = seen[k] || strcmp(argv[1], commands[k]) == 0;
        vt_cli_run(argv, &run);
        /* What the help shows, up to its "...", is how the real output starts. */
        {
            const char *dots = strstr(shown, "...");
            size_t prefix = (size_t)((dots && dots < shown_end ? dots : shown_end) - shown);

            if (strncmp(run.out, shown, prefix) != 0)
                fail_msg("help example for '%s' shows\n  %.*s\nbut prints\n  %s", argv[1],
                         (int)(shown_end - shown), shown, run.out);
        }
        assert_string_equal(run.err, "");
        vt_run_clear(&run);
        free(path);
        free(line);
        free(doc);
        p = shown_end;
    }
    for (size_t k = 0; k < 3; k++) {
        if (!seen[k])
            fail_msg("--help has no example of '%s'", commands[k]);
    }
    vt_run_clear(&help);
}

static void
test_version_option_prints_library_version(void **state)
{
    char expected[64];
    vt_run run;

    (void)state;
    snprintf(expected, sizeof(expected), "vtpm-filter %s\n", vtpm_filter_version());
    cli(&run, "--version", NULL, NULL, NULL);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, expected);
    vt_run_clear(&run);
    cli(&run, "check", "-V", NULL, NULL);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, expected);
    vt_run_clear(&run);
}

/* Runs vtpm-filter with standard input read from @path. */
static void
cli_with_stdin(vt_run *run, const char *path, const char *a1, const char *a2)
{
    int saved = dup(0), fd = open(path, O_RDONLY);

    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, 0), 0);
    close(fd);
    clearerr(stdin);
    cli(run, a1, a2, NULL, NULL);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    clearerr(stdin);
}

static void
test_check_reads_standard_input(void **state)
{
    static const char doc[] = "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"1.2\"}}}\n";
    static const char expected[] =
        "{\"result\":\"accept\",\"vtpm\":{\"version\":\"1.2\",\"model\":\"tpm-tis\","
        "\"secret_security\":\"user\"},\"required_traits\":[\"COMPUTE_SECURITY_TPM_1_2\","
        "\"COMPUTE_SECURITY_TPM_TIS\",\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER\"]}\n";
    char *path = vt_path(tmpdir, "stdin.json");
    vt_run run;

    (void)state;
    vt_file_write(path, doc, strlen(doc));
    cli_with_stdin(&run, path, "check", NULL);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, expected);
    vt_run_clear(&run);
    cli_with_stdin(&run, path, "check", "-");
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, expected);
    vt_run_clear(&run);
    free(path);
}

/* A run that stops in the middle of an option cluster must not leak into the next one. */
static void
test_repeated_runs_do_not_share_option_state(void **state)
{
    static const char doc[] = "{}";
    char *path = vt_path(tmpdir, "empty-request.json");
    vt_run run;

    (void)state;
    vt_file_write(path, doc, strlen(doc));
    cli(&run, "check", "-xh", path, NULL);
    assert_int_equal(run.status, 2);
    assert_string_equal(run.err, "vtpm-filter: unknown option '-x' (see --help)\n");
    vt_run_clear(&run);
    cli(&run, "check", path, NULL, NULL);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, "{\"result\":\"accept\",\"vtpm\":null,\"required_traits\":[]}\n");
    assert_string_equal(run.err, "");
    vt_run_clear(&run);
    free(path);
}

static void
test_input_larger_than_the_limit_is_refused(void **state)
{
    char *path = vt_path(tmpdir, "huge.json");
    char *block = malloc(1 << 20);
    FILE *f = fopen(path, "w");
    char expected[512];
    vt_run run;
    int i;

    (void)state;
    assert_non_null(block);
    assert_non_null(f);
    memset(block, ' ', 1 << 20);
    /* 64 MiB of blanks and then a document. */
    for (i = 0; i < 64; i++)
        assert_int_equal(fwrite(block, 1, 1 << 20, f), 1 << 20);
    fputs("{}", f);
    fclose(f);
    free(block);
    cli(&run, "check", path, NULL, NULL);
    assert_int_equal(run.status, 2);
    assert_string_equal(run.out, "");
    snprintf(expected, sizeof(expected),
             "vtpm-filter: input '%s' is larger than 64 MiB\n", path);
    assert_string_equal(run.err, expected);
    vt_run_clear(&run);
    unlink(path);
    free(path);
}

/* Results that cannot be written make the run fail. */
static void
test_unwritable_output_is_an_error(void **state)
{
    static const char doc[] = "{}";
    char *path = vt_path(tmpdir, "request-full.json");
    char prog[] = "vtpm-filter", cmd[] = "check";
    char *argv[] = { prog, cmd, path, NULL };
    FILE *full = fopen("/dev/full", "w");
    FILE *err = tmpfile();

    (void)state;
    assert_non_null(full);
    assert_non_null(err);
    vt_file_write(path, doc, strlen(doc));
    assert_int_equal(vtpm_filter_cli_main(3, argv, full, err), 2);
    fclose(full);
    fclose(err);
    free(path);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_help_examples_run_as_shown),
        cmocka_unit_test(test_version_option_prints_library_version),
        cmocka_unit_test(test_check_reads_standard_input),
        cmocka_unit_test(test_repeated_runs_do_not_share_option_state),
        cmocka_unit_test(test_input_larger_than_the_limit_is_refused),
        cmocka_unit_test(test_unwritable_output_is_an_error),
    };
    char *data = vt_path(vt_srcdir(), "data/cli");
    size_t n, i, n_extra = sizeof(extra) / sizeof(extra[0]);
    char **names = vt_dir_list(data, "", &n);
    cli_case *cases = calloc(n, sizeof(*cases));
    struct CMUnitTest *tests = calloc(n + n_extra, sizeof(*tests));
    int failed;

    assert_non_null(cases);
    assert_non_null(tests);
    for (i = 0; i < n_extra; i++)
        tests[i] = extra[i];
    for (i = 0; i < n; i++) {
        cases[i].dir = vt_path(data, names[i]);
        cases[i].name = names[i];
        tests[n_extra + i].name = names[i];
        tests[n_extra + i].test_func = test_cli_case;
        tests[n_extra + i].initial_state = &cases[i];
    }
    tmpdir = vt_tmpdir_new();
    failed = _cmocka_run_group_tests("cli", tests, n + n_extra, NULL, NULL);
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    for (i = 0; i < n; i++)
        free(cases[i].dir);
    free(cases);
    free(tests);
    vt_strv_free(names);
    free(data);
    return failed;
}
