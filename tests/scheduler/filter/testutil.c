/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the filter tests: data files, golden cases, in-process CLI runs, spawning. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "testutil.h"

const char *
vt_srcdir(void)
{
    const char *dir = getenv("VTPM_TEST_SRCDIR");

    if (!dir || !*dir)
        fail_msg("VTPM_TEST_SRCDIR is not set: run the tests with 'meson test'");
    return dir;
}

bool
vt_regenerate(void)
{
    const char *v = getenv("VTPM_TEST_REGENERATE");

    return v && strcmp(v, "1") == 0;
}

char *
vt_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *
vt_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        if (errno == ENOENT)
            return NULL;
        fail_msg("cannot open '%s': %s", path, strerror(errno));
    }
    for (;;) {
        size_t got;

        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        fail_msg("cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void
vt_file_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        fail_msg("cannot create '%s': %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len)
        fail_msg("cannot write '%s': %s", path, strerror(errno));
    if (fclose(f) != 0)
        fail_msg("cannot write '%s': %s", path, strerror(errno));
}

static int
strv_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
vt_dir_list(const char *dir, const char *suffix, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t count = 0, sl = strlen(suffix);

    if (!d)
        fail_msg("cannot open directory '%s': %s", dir, strerror(errno));
    /* fail_msg() does not return, but cmocka 1.1 does not declare it noreturn.
     * NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        v = realloc(v, (count + 2) * sizeof(*v));
        assert_non_null(v);
        v[count] = strdup(e->d_name);
        assert_non_null(v[count]);
        count++;
    }
    closedir(d);
    if (!v) {
        v = calloc(1, sizeof(*v));
        assert_non_null(v);
    }
    v[count] = NULL;
    qsort(v, count, sizeof(*v), strv_cmp);
    if (n)
        *n = count;
    return v;
}

void
vt_strv_free(char **v)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

char *
vt_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = vt_path(base && *base ? base : "/tmp", "vtpm-filter-test.XXXXXX");

    if (!mkdtemp(tmpl))
        fail_msg("cannot create a temporary directory: %s", strerror(errno));
    return tmpl;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
vt_tmpdir_remove(const char *dir)
{
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
vt_str_replace(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *p;

    if (!s || fl == 0)
        return s;
    while ((p = strstr(s, from))) {
        size_t off = (size_t)(p - s), rest = strlen(p + fl);
        char *n = malloc(off + tl + rest + 1);

        assert_non_null(n);
        memcpy(n, s, off);
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the next copy ends with the NUL */
        memcpy(n + off, to, tl);
        memcpy(n + off + tl, p + fl, rest + 1);
        free(s);
        s = n;
    }
    return s;
}

void
vt_cli_run(const char *const *argv, vt_run *run)
{
    FILE *out, *err;
    int argc = 0;

    memset(run, 0, sizeof(*run));
    while (argv[argc])
        argc++;
    out = open_memstream(&run->out, &run->out_len);
    err = open_memstream(&run->err, &run->err_len);
    assert_non_null(out);
    assert_non_null(err);
    /* getopt permutes its argv: hand it a copy of the pointer array. */
    {
        char **copy = calloc((size_t)argc + 1, sizeof(*copy));

        assert_non_null(copy);
        /* The strings themselves are never written to. */
        for (int i = 0; i < argc; i++)
            copy[i] = (char *)(uintptr_t)argv[i];
        run->status = vtpm_filter_cli_main(argc, copy, out, err);
        free(copy);
    }
    assert_int_equal(fclose(out), 0);
    assert_int_equal(fclose(err), 0);
}

void
vt_run_clear(vt_run *run)
{
    free(run->out);
    free(run->err);
    memset(run, 0, sizeof(*run));
}

int
vt_spawn(const char *const *argv, const char *const *env_extra, vt_run *run)
{
    posix_spawn_file_actions_t fa;
    char out_tmpl[] = "/tmp/vtpm-spawn-out.XXXXXX";
    char err_tmpl[] = "/tmp/vtpm-spawn-err.XXXXXX";
    int out_fd = mkstemp(out_tmpl), err_fd = mkstemp(err_tmpl);
    char **envp, **argvp;
    size_t n_env = 0, n_extra = 0, n_argv = 0, i;
    pid_t pid;
    int rc, wstatus;

    memset(run, 0, sizeof(*run));
    assert_true(out_fd >= 0 && err_fd >= 0);
    while (environ[n_env])
        n_env++;
    while (argv[n_argv])
        n_argv++;
    while (env_extra && env_extra[n_extra])
        n_extra++;
    envp = calloc(n_env + n_extra + 1, sizeof(*envp));
    argvp = calloc(n_argv + 1, sizeof(*argvp));
    assert_non_null(argvp);
    for (i = 0; i < n_argv; i++)
        argvp[i] = (char *)(uintptr_t)argv[i];
    assert_non_null(envp);
    /* The extra entries come first so that they win over inherited ones. */
    for (i = 0; i < n_extra; i++)
        envp[i] = (char *)(uintptr_t)env_extra[i];
    for (i = 0; i < n_env; i++)
        envp[n_extra + i] = environ[i];

    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out_fd, 1), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, err_fd, 2), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
    /* Every caller names a program; the analyzer also tries an empty argv.
     * NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argvp, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(argvp);
    free(envp);
    if (rc != 0)
        fail_msg("cannot run '%s': %s", argv[0], strerror(rc));
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
    }
    close(out_fd);
    close(err_fd);
    run->out = vt_file_read(out_tmpl, &run->out_len);
    run->err = vt_file_read(err_tmpl, &run->err_len);
    unlink(out_tmpl);
    unlink(err_tmpl);
    assert_non_null(run->out);
    assert_non_null(run->err);
    if (WIFEXITED(wstatus))
        run->status = WEXITSTATUS(wstatus);
    else
        run->status = -1 - WTERMSIG(wstatus);
    return run->status;
}

char *
vt_json_text(const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(none)");

    assert_non_null(s);
    return s;
}

void
vt_assert_json_equal(json_t *actual, json_t *expected, const char *what)
{
    if (!json_equal(actual, expected)) {
        char *a = vt_json_text(actual), *e = vt_json_text(expected);

        print_error("%s differs\n  expected: %s\n  actual:   %s\n", what, e, a);
        free(a);
        free(e);
        fail();
    }
}

/* ---- Golden JSONL cases ------------------------------------------------ */

static bool
line_is_comment(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '\0' || *line == '#' || *line == '\n' || *line == '\r';
}

void
vt_suite_load(vt_suite *suite, const char *area, CMUnitTestFunction fn)
{
    char *dir = vt_path(vt_srcdir(), "data");
    char *area_dir = vt_path(dir, area);
    size_t n_files = 0, f;
    char **files = vt_dir_list(area_dir, ".jsonl", &n_files);

    memset(suite, 0, sizeof(*suite));
    for (f = 0; f < n_files; f++) {
        char *path = vt_path(area_dir, files[f]);
        char *text = vt_file_read(path, NULL);
        char *save = NULL, *line;
        int lineno = 0;
        size_t stem_len = strlen(files[f]) - strlen(".jsonl");

        assert_non_null(text);
        /* strtok_r would skip empty lines and lose the numbering: split by hand. */
        for (line = text; line && *line; line = save) {
            json_error_t jerr;
            json_t *doc, *name;
            vt_case *c;
            char *nl = strchr(line, '\n');

            save = nl ? nl + 1 : NULL;
            if (nl)
                *nl = '\0';
            lineno++;
            if (line_is_comment(line))
                continue;
            doc = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
            if (!doc)
                fail_msg("%s:%d:%d: %s", path, lineno, jerr.column, jerr.text);
            name = json_object_get(doc, "name");
            if (!json_is_string(name) || !json_object_get(doc, "expect"))
                fail_msg("%s:%d: a case needs \"name\" and \"expect\"", path, lineno);
            suite->cases = realloc(suite->cases, (suite->n + 1) * sizeof(*suite->cases));
            assert_non_null(suite->cases);
            c = &suite->cases[suite->n++];
            memset(c, 0, sizeof(*c));
            c->suite = suite;
            c->file = strdup(path);
            c->line = lineno;
            c->doc = doc;
            {
                size_t len = stem_len + 1 + strlen(json_string_value(name)) + 1;

                c->name = malloc(len);
                assert_non_null(c->name);
                snprintf(c->name, len, "%.*s/%s", (int)stem_len, files[f],
                         json_string_value(name));
            }
        }
        free(text);
        free(path);
    }
    vt_strv_free(files);
    free(area_dir);
    free(dir);
    if (suite->n == 0)
        fail_msg("no cases in %s/data/%s/*.jsonl", vt_srcdir(), area);

    /* suite->n > 0: fail_msg() does not return, but cmocka 1.1 does not declare it noreturn.
     * NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
    suite->tests = calloc(suite->n, sizeof(*suite->tests));
    assert_non_null(suite->tests);
    for (f = 0; f < suite->n; f++) {
        size_t j;

        for (j = 0; j < f; j++) {
            if (strcmp(suite->cases[j].name, suite->cases[f].name) == 0)
                fail_msg("%s:%d: duplicate case name '%s'", suite->cases[f].file,
                         suite->cases[f].line, suite->cases[f].name);
        }
        suite->tests[f].name = suite->cases[f].name;
        suite->tests[f].test_func = fn;
        suite->tests[f].initial_state = &suite->cases[f];
    }
}

/* Rewrites one file with every case's actual result as its expectation. */
static void
suite_regenerate_file(vt_suite *suite, const char *path)
{
    char *text = vt_file_read(path, NULL);
    char *out = NULL, *line, *save;
    size_t out_len = 0;
    FILE *o = open_memstream(&out, &out_len);
    int lineno = 0;

    assert_non_null(text);
    assert_non_null(o);
    for (line = text; line && *line; line = save) {
        char *nl = strchr(line, '\n');
        size_t i;
        bool done = false;

        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        for (i = 0; i < suite->n && !done; i++) {
            vt_case *c = &suite->cases[i];

            if (c->line != lineno || strcmp(c->file, path) != 0 || !c->actual)
                continue;
            json_object_set(c->doc, "expect", c->actual);
            {
                char *s = json_dumps(c->doc, JSON_COMPACT);

                assert_non_null(s);
                fprintf(o, "%s\n", s);
                free(s);
            }
            done = true;
        }
        if (!done)
            fprintf(o, "%s\n", line);
    }
    fclose(o);
    vt_file_write(path, out, out_len);
    free(out);
    free(text);
}

int
vt_suite_run(vt_suite *suite, const char *group, const struct CMUnitTest *extra,
             size_t n_extra)
{
    struct CMUnitTest *all = calloc(suite->n + n_extra + 1, sizeof(*all));
    int failed;
    size_t i;

    assert_non_null(all);
    for (i = 0; i < n_extra; i++)
        all[i] = extra[i];
    for (i = 0; i < suite->n; i++)
        all[n_extra + i] = suite->tests[i];
    failed = _cmocka_run_group_tests(group, all, suite->n + n_extra, NULL, NULL);
    free(all);

    if (vt_regenerate()) {
        for (i = 0; i < suite->n; i++) {
            size_t j;
            bool seen = false;

            for (j = 0; j < i && !seen; j++)
                seen = strcmp(suite->cases[j].file, suite->cases[i].file) == 0;
            if (!seen)
                suite_regenerate_file(suite, suite->cases[i].file);
        }
    }
    return failed;
}

void
vt_suite_free(vt_suite *suite)
{
    size_t i;

    for (i = 0; i < suite->n; i++) {
        free(suite->cases[i].file);
        free(suite->cases[i].name);
        json_decref(suite->cases[i].doc);
        json_decref(suite->cases[i].actual);
    }
    free(suite->cases);
    free(suite->tests);
    memset(suite, 0, sizeof(*suite));
}

void
vt_case_check(vt_case *c, json_t *actual)
{
    assert_non_null(actual);
    json_decref(c->actual);
    c->actual = actual;
    if (vt_regenerate())
        return;
    if (!json_equal(actual, json_object_get(c->doc, "expect"))) {
        char *a = vt_json_text(actual);
        char *e = vt_json_text(json_object_get(c->doc, "expect"));

        print_error("%s:%d: case '%s'\n  expected: %s\n  actual:   %s\n"
                    "  (if the change is intended, rerun with VTPM_TEST_REGENERATE=1 "
                    "and review the diff)\n", c->file, c->line, c->name, e, a);
        free(a);
        free(e);
        fail();
    }
}

const char *
vt_case_string(vt_case *c, const char *key, const char *dflt)
{
    json_t *v = json_object_get(c->doc, key);

    if (!v)
        return dflt;
    if (!json_is_string(v))
        fail_msg("%s:%d: \"%s\" must be a string", c->file, c->line, key);
    return json_string_value(v);
}

bool
vt_case_bool(vt_case *c, const char *key, bool dflt)
{
    json_t *v = json_object_get(c->doc, key);

    if (!v)
        return dflt;
    if (!json_is_boolean(v))
        fail_msg("%s:%d: \"%s\" must be true or false", c->file, c->line, key);
    return json_is_true(v);
}

/* ---- Filter helpers ---------------------------------------------------- */

json_t *
vt_traits_json(vtpm_traitset set)
{
    json_t *arr = json_array();
    int t;

    assert_non_null(arr);
    for (t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if (set & VTPM_TRAITSET_BIT(t))
            assert_int_equal(json_array_append_new(arr,
                                 json_string(vtpm_trait_name((vtpm_trait)t))), 0);
    }
    /* Bits beyond the catalogue would be a library bug. */
    assert_int_equal(set & ~VTPM_TRAITSET_ALL, 0);
    return arr;
}

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *
vt_result_json(const vtpm_result *res)
{
    const char *msg = vtpm_result_message(res);
    json_t *j, *vtpm;

    assert_non_null(msg);
    /* Every message is one line. */
    assert_null(strchr(msg, '\n'));
    if (!vtpm_result_accepted(res)) {
        assert_int_not_equal(vtpm_result_code(res), VTPM_CODE_NONE);
        assert_non_null(vtpm_code_name(vtpm_result_code(res)));
        assert_true(strlen(msg) > 0);
        assert_int_equal(vtpm_result_required_traits(res), 0);
        assert_int_equal(vtpm_result_version(res), VTPM_VERSION_NONE);
        j = json_pack("{s:s, s:s, s:s}", "result", "reject",
                      "code", vtpm_code_name(vtpm_result_code(res)),
                      "message", msg);
        assert_non_null(j);
        return j;
    }
    assert_int_equal(vtpm_result_code(res), VTPM_CODE_NONE);
    assert_string_equal(msg, "");
    if (vtpm_result_version(res) == VTPM_VERSION_NONE) {
        assert_int_equal(vtpm_result_model(res), VTPM_MODEL_NONE);
        assert_int_equal(vtpm_result_secret_security(res), VTPM_SECRET_SECURITY_NONE);
        assert_int_equal(vtpm_result_required_traits(res), 0);
        vtpm = json_null();
    } else {
        vtpm = json_pack("{s:o, s:o, s:o}",
                         "version", str_or_null(vtpm_version_name(vtpm_result_version(res))),
                         "model", str_or_null(vtpm_model_name(vtpm_result_model(res))),
                         "secret_security",
                         str_or_null(vtpm_secret_security_name(
                             vtpm_result_secret_security(res))));
    }
    assert_non_null(vtpm);
    j = json_pack("{s:s, s:o, s:o}", "result", "accept", "vtpm", vtpm,
                  "required_traits", vt_traits_json(vtpm_result_required_traits(res)));
    assert_non_null(j);
    return j;
}

vtpm_filter *
vt_case_filter(vt_case *c)
{
    const char *pname = vt_case_string(c, "profile", "current");
    vtpm_profile profile;
    vtpm_filter *filter;
    vtpm_error err = { 0 };

    if (vtpm_profile_from_name(pname, &profile) != VTPM_OK)
        fail_msg("%s:%d: unknown profile '%s'", c->file, c->line, pname);
    filter = vtpm_filter_new(profile, vt_case_bool(c, "strict", false)
                                          ? VTPM_FILTER_STRICT : 0, &err);
    if (!filter)
        fail_msg("vtpm_filter_new: %s", err.message);
    return filter;
}

static void
fill_part(vtpm_request *req, json_t *doc, const char *part, const char *member,
          vtpm_status (*set)(vtpm_request *, const char *, const char *))
{
    json_t *obj = json_object_get(json_object_get(doc, part), member);
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        if (json_is_string(v))
            assert_int_equal(set(req, key, json_string_value(v)), VTPM_OK);
        else if (json_is_null(v))
            assert_int_equal(set(req, key, NULL), VTPM_OK);
    }
}

void
vt_request_fill_direct(vtpm_request *req, json_t *doc)
{
    vtpm_request_reset(req);
    fill_part(req, doc, "flavor", "extra_specs", vtpm_request_set_flavor_spec);
    fill_part(req, doc, "image", "properties", vtpm_request_set_image_property);
}

char *
vt_json_file(const char *dir, const char *name, json_t *doc)
{
    char *path = vt_path(dir, name);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);

    assert_non_null(text);
    vt_file_write(path, text, strlen(text));
    free(text);
    return path;
}
