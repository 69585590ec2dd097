/* SPDX-License-Identifier: Apache-2.0 */
/* libvtpm-filter's ABI: exports == version script == public headers, and the installed interface builds and runs. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Arguments from meson: the .so, the version script, the public header folder,
 * meson itself, b_sanitize, then the C compiler command. */
static const char *so_path, *map_path, *include_dir, *meson_prog, *sanitize;
static const char *const *cc_cmd;
static int cc_argc;

/* A sorted list of names. */
typedef struct {
    char **v;
    size_t n;
} names;

static void
names_add(names *s, const char *name, size_t len)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    assert_non_null(s->v);
    s->v[s->n] = strndup(name, len);
    assert_non_null(s->v[s->n]);
    s->n++;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
names_sort(names *s)
{
    if (s->n > 1) /* qsort's base must not be NULL, even for no elements */
        qsort(s->v, s->n, sizeof(*s->v), name_cmp);
}

static void
names_free(names *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static bool
names_has(const names *s, const char *name)
{
    return s->n > 0 && bsearch(&name, s->v, s->n, sizeof(*s->v), name_cmp) != NULL;
}

/* Prints what is in @a but not in @b; returns how many. */
static size_t
names_report_missing(const names *a, const char *a_what, const names *b, const char *b_what)
{
    size_t i, missing = 0;

    for (i = 0; i < a->n; i++) {
        if (!names_has(b, a->v[i])) {
            print_error("%s is in %s but not in %s\n", a->v[i], a_what, b_what);
            missing++;
        }
    }
    return missing;
}

/* The names in the version script's global: section. */
static void
map_load(names *out)
{
    char *text = vt_file_read(map_path, NULL), *p, *save = NULL;
    bool global = false;

    assert_non_null(text);
    for (p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        size_t len;

        while (isspace((unsigned char)*p))
            p++;
        if (strncmp(p, "global:", 7) == 0) {
            global = true;
            continue;
        }
        if (strncmp(p, "local:", 6) == 0 || *p == '}') {
            global = false;
            continue;
        }
        if (!global || *p == '\0' || *p == '/' || *p == '*')
            continue;
        len = strcspn(p, "; \t");
        names_add(out, p, len);
    }
    free(text);
    names_sort(out);
}

/* The dynamic symbols the .so defines, from nm -D --defined-only. */
static void
nm_load(names *out)
{
    const char *argv[] = { "nm", "-D", "--defined-only", so_path, NULL };
    char *line, *save = NULL;
    vt_run run;

    if (vt_spawn(argv, NULL, &run) != 0)
        fail_msg("nm -D --defined-only '%s' failed: %s (install binutils)", so_path, run.err);
    for (line = strtok_r(run.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char type, name[256];
        char *at;

        if (sscanf(line, "%*s %c %255s", &type, name) != 2)
            fail_msg("cannot read nm line: %s", line);
        /* The version node itself is an absolute symbol. */
        if (type == 'A')
            continue;
        at = strchr(name, '@');
        if (!at || strcmp(at, "@@VTPM_FILTER_0.1") != 0)
            fail_msg("exported symbol '%s' has no version VTPM_FILTER_0.1", name);
        names_add(out, name, (size_t)(at - name));
    }
    vt_run_clear(&run);
    names_sort(out);
}

/* include/vtpm also holds other libraries' headers (inventory.h): these are this one's. */
static bool
is_filter_header(const char *name)
{
    return strcmp(name, "filter.h") == 0 || strcmp(name, "traits.h") == 0;
}

/* Function names declared (not defined inline) in the public headers. */
static void
headers_load(names *out)
{
    size_t n, f;
    char **files = vt_dir_list(include_dir, ".h", &n);

    assert_true(n > 0);
    for (f = 0; f < n; f++) {
        char *path, *text, *p, *q;
        size_t stmt = 0;

        if (!is_filter_header(files[f]))
            continue;
        path = vt_path(include_dir, files[f]);
        text = vt_file_read(path, NULL);
        assert_non_null(text);
        /* Blank out comments and preprocessor lines. */
        for (p = text; *p; p++) {
            if (p[0] == '/' && p[1] == '*') {
                q = strstr(p + 2, "*/");
                assert_non_null(q);
                memset(p, ' ', (size_t)(q + 2 - p));
            } else if (*p == '#' && (p == text || p[-1] == '\n')) {
                while (*p && !(*p == '\n' && p[-1] != '\\'))
                    *p++ = ' ';
            }
        }
        for (p = text; *p; p++) {
            if (*p == ';' || *p == '{' || *p == '}') {
                stmt = (size_t)(p - text) + 1;
                continue;
            }
            if (strncmp(p, "vtpm_", 5) == 0 && (p == text || !(isalnum((unsigned char)p[-1]) ||
                                                               p[-1] == '_'))) {
                size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
                char *after = p + len;

                while (isspace((unsigned char)*after))
                    after++;
                if (*after == '(') {
                    char *start = text + stmt, saved = *p;
                    bool is_static;

                    *p = '\0';
                    is_static = strstr(start, "static") != NULL;
                    *p = saved;
                    if (!is_static)
                        names_add(out, p, len);
                }
                p += len - 1;
            }
        }
        free(text);
        free(path);
    }
    vt_strv_free(files);
    names_sort(out);
}

static void
test_exported_symbols_match_version_script(void **state)
{
    names map = { 0 }, nm = { 0 };
    size_t bad;

    (void)state;
    map_load(&map);
    nm_load(&nm);
    assert_true(map.n > 0);
    bad = names_report_missing(&map, map_path, &nm, "the .so's exports") +
          names_report_missing(&nm, "the .so's exports", &map, map_path);
    assert_int_equal(bad, 0);
    assert_int_equal(map.n, nm.n);
    names_free(&map);
    names_free(&nm);
}

static void
test_public_headers_declare_exactly_the_version_script(void **state)
{
    names map = { 0 }, hdr = { 0 };
    size_t bad;

    (void)state;
    map_load(&map);
    headers_load(&hdr);
    bad = names_report_missing(&hdr, "the public headers", &map, map_path) +
          names_report_missing(&map, map_path, &hdr, "the public headers");
    assert_int_equal(bad, 0);
    names_free(&map);
    names_free(&hdr);
}

static void
mkdir_p(const char *path)
{
    char *copy = strdup(path), *p;

    assert_non_null(copy);
    for (p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST)
                fail_msg("mkdir '%s': %s", copy, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(copy, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir '%s': %s", copy, strerror(errno));
    free(copy);
}

static char *
dirname_dup(const char *path)
{
    const char *slash = strrchr(path, '/');

    assert_non_null(slash);
    return strndup(path, (size_t)(slash - path));
}

/*
 * Makes the links a library install has: SONAME -> the file, and the
 * development link libvtpm-filter.so -> SONAME. The soname is the ABI promise.
 */
static void
library_links(const char *dir, const char *file)
{
    const char *argv[] = { "readelf", "-d", file, NULL };
    char *soname, *end, *link_path;
    vt_run run;

    if (vt_spawn(argv, NULL, &run) != 0)
        fail_msg("readelf -d '%s' failed: %s (install binutils)", file, run.err);
    soname = strstr(run.out, "Library soname: [");
    assert_non_null(soname);
    soname += strlen("Library soname: [");
    end = strchr(soname, ']');
    assert_non_null(end);
    *end = '\0';
    assert_string_equal(soname, "libvtpm-filter.so.0");
    link_path = vt_path(dir, soname);
    if (symlink(strrchr(file, '/') + 1, link_path) != 0)
        fail_msg("symlink '%s': %s", link_path, strerror(errno));
    free(link_path);
    link_path = vt_path(dir, "libvtpm-filter.so");
    if (symlink(soname, link_path) != 0)
        fail_msg("symlink '%s': %s", link_path, strerror(errno));
    free(link_path);
    vt_run_clear(&run);
}

/*
 * Lays out what "meson install" would install for the library (headers,
 * .so and its links, pkg-config file) under @root, from meson's own list.
 * Returns the library folder inside @root (free with free).
 */
static char *
install_library(const char *root)
{
    const char *argv[] = { meson_prog, "introspect", "--installed", getenv("VTPM_BUILD_ROOT"),
                           NULL };
    json_t *installed;
    const char *src;
    json_t *dest;
    char *libdir = NULL;
    size_t n_headers = 0;
    vt_run run;

    assert_non_null(argv[3]);
    if (vt_spawn(argv, NULL, &run) != 0)
        fail_msg("meson introspect --installed failed: %s", run.err);
    installed = json_loads(run.out, 0, NULL);
    assert_non_null(installed);
    json_object_foreach(installed, src, dest) {
        const char *d = json_string_value(dest);
        const char *base = strrchr(d, '/') + 1;
        bool header = strstr(d, "/include/vtpm/") != NULL && is_filter_header(base);
        bool lib = strncmp(base, "libvtpm-filter.so", 17) == 0;
        bool pc = strcmp(base, "vtpm-filter.pc") == 0;
        char *to, *dir;

        if (!header && !lib && !pc)
            continue;
        to = vt_path(root, d + 1);
        dir = dirname_dup(to);
        mkdir_p(dir);
        if (!strchr(src, '/')) {
            /* A symbolic link meson makes: made below from the soname. */
        } else {
            size_t len;
            char *data = vt_file_read(src, &len);

            assert_non_null(data);
            vt_file_write(to, data, len);
            free(data);
        }
        n_headers += header;
        if (lib && strchr(src, '/')) {
            free(libdir);
            libdir = dir;
            library_links(dir, to);
        } else {
            free(dir);
        }
        free(to);
    }
    if (n_headers != 2)
        fail_msg("expected meson to install include/vtpm/filter.h and traits.h, it installs %zu "
                 "headers", n_headers);
    assert_non_null(libdir);
    json_decref(installed);
    vt_run_clear(&run);
    return libdir;
}

/* "NAME=value" as a new string. */
static char *
env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);

    assert_non_null(s);
    snprintf(s, n, "%s=%s", name, value);
    return s;
}

static void
test_installed_interface_builds_and_runs(void **state)
{
    char *root = vt_tmpdir_new(), *libdir, *pcdir, *env_pc, *env_sysroot, *env_ld, *exe, *src;
    const char *argv[96];
    const char *pc_argv[] = { "pkg-config", "--cflags", "--libs", "vtpm-filter", NULL };
    const char *pc_env[3];
    char *tok, *save = NULL, san[128];
    vt_run run;
    int argc = 0, i;

    (void)state;
    libdir = install_library(root);
    pcdir = vt_path(libdir, "pkgconfig");
    env_pc = env_entry("PKG_CONFIG_PATH", pcdir);
    env_sysroot = env_entry("PKG_CONFIG_SYSROOT_DIR", root);
    env_ld = env_entry("LD_LIBRARY_PATH", libdir);
    pc_env[0] = env_pc;
    pc_env[1] = env_sysroot;
    pc_env[2] = NULL;
    if (vt_spawn(pc_argv, pc_env, &run) != 0)
        fail_msg("pkg-config --cflags --libs vtpm-filter: %s", run.err);

    src = vt_path(vt_srcdir(), "scheduler/filter/api_consumer.c");
    exe = vt_path(root, "api_consumer");
    for (i = 0; i < cc_argc; i++)
        argv[argc++] = cc_cmd[i];
    argv[argc++] = "-std=c11";
    argv[argc++] = "-Wall";
    argv[argc++] = "-Wextra";
    argv[argc++] = "-Wpedantic";
    argv[argc++] = "-Werror";
    argv[argc++] = "-o";
    argv[argc++] = exe;
    argv[argc++] = src;
    /* The flags pkg-config gives, split on blanks as a shell would. */
    for (tok = strtok_r(run.out, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        assert_true(argc < 90);
        argv[argc++] = tok;
    }
    if (strcmp(sanitize, "none") != 0) {
        snprintf(san, sizeof(san), "-fsanitize=%s", sanitize);
        argv[argc++] = san;
    }
    argv[argc] = NULL;
    {
        vt_run cc_run;

        if (vt_spawn(argv, NULL, &cc_run) != 0)
            fail_msg("compiling %s against the installed interface failed:\n%s", src, cc_run.err);
        vt_run_clear(&cc_run);
    }
    vt_run_clear(&run);

    {
        const char *run_argv[] = { exe, NULL };
        const char *run_env[] = { env_ld, NULL };
        char expected[64];

        snprintf(expected, sizeof(expected), "vtpm-filter %s ok\n", vtpm_filter_version());
        if (vt_spawn(run_argv, run_env, &run) != 0)
            fail_msg("api_consumer failed (%d): %s", run.status, run.err);
        assert_string_equal(run.out, expected);
        vt_run_clear(&run);
    }
    vt_tmpdir_remove(root);
    free(exe);
    free(src);
    free(env_pc);
    free(env_sysroot);
    free(env_ld);
    free(pcdir);
    free(libdir);
    free(root);
}

int
main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exported_symbols_match_version_script),
        cmocka_unit_test(test_public_headers_declare_exactly_the_version_script),
        cmocka_unit_test(test_installed_interface_builds_and_runs),
    };

    if (argc < 7) {
        fprintf(stderr, "usage: %s LIB.so MAP INCLUDE_DIR MESON SANITIZE CC...\n", argv[0]);
        return 2;
    }
    so_path = argv[1];
    map_path = argv[2];
    include_dir = argv[3];
    meson_prog = argv[4];
    sanitize = argv[5];
    cc_cmd = (const char *const *)(argv + 6);
    cc_argc = argc - 6;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
