/* SPDX-License-Identifier: Apache-2.0 */
/* The swtpm probe: binary search, tolerant capability runs, and the capability cache. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "command.h"
#include "conf.h"
#include "decide.h"
#include "facts_json.h"
#include "file.h"
#include "probe_swtpm-priv.h"
#include "probe_swtpm.h"

#define CAPS_FULL "{\"type\":\"swtpm\",\"features\":[\"tpm-1.2\",\"tpm-2.0\"," \
                  "\"cmdarg-pwd-fd\"],\"version\":\"0.7.1\"}"
#define CAPS_NO_1_2 "{\"type\":\"swtpm\",\"features\":[\"tpm-2.0\"],\"version\":\"0.8.0\"}"
#define CAPS_SETUP "{\"type\":\"swtpm_setup\",\"features\":[\"tpm-1.2\",\"tpm-2.0\"," \
                   "\"cmdarg-pwdfile-fd\"],\"version\":\"0.7.1\"}"

typedef struct {
    char root[64];            /* temporary folder */
    char bin[128];            /* fake binaries */
    char cache[128];          /* cache_dir */
    char *search[2];
    vtpm_conf conf;
    /* what the dry-run handler answers, and what it saw */
    const char *swtpm_out;
    const char *setup_out;
    int swtpm_exit;
    int calls_swtpm, calls_setup;
} fixture;

static int
dry_run(const char *const *argv, vtpm_command_result *res, void *opaque)
{
    fixture *f = opaque;
    const char *base = strrchr(argv[0], '/');

    base = base ? base + 1 : argv[0];
    if (strcmp(base, "swtpm") == 0) {
        f->calls_swtpm++;
        /* the probe asks for the socket interface's capabilities */
        assert_string_equal(argv[1], "socket");
        assert_string_equal(argv[2], "--print-capabilities");
        res->exit_code = f->swtpm_exit;
        vtpm_command_result_set_output(res, f->swtpm_out, "");
        return f->swtpm_exit == 0 ? 0 : 1;
    }
    if (strcmp(base, "swtpm_setup") == 0) {
        f->calls_setup++;
        assert_string_equal(argv[1], "--print-capabilities");
        vtpm_command_result_set_output(res, f->setup_out, "");
        return 0;
    }
    fail_msg("unexpected command %s", argv[0]);
    return -1;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
remove_tree(const char *path)
{
    const char *argv[] = {"/bin/rm", "-rf", path, NULL};
    vtpm_command_result res;

    vtpm_command_set_dry_run(NULL, NULL);
    vtpm_command_run(argv, NULL, &res);
    vtpm_command_result_clear(&res);
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *names[] = {"swtpm", "swtpm_setup", "swtpm_ioctl"};

    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/vtpm-test-swtpm-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->bin, sizeof(f->bin), "%s/bin", f->root);
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->root);
    mkdir(f->bin, 0755);
    for (size_t i = 0; i < 3; i++) {
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", f->bin, names[i]);
        write_file(path, "#!/bin/sh\nexit 99\n", 0755);
    }
    vtpm_conf_init_defaults(&f->conf);
    f->search[0] = f->bin;
    f->search[1] = NULL;
    /* borrowed for the test; cleared before vtpm_conf_clear() */
    for (char **p = f->conf.swtpm_search_path; p && *p; p++)
        free(*p);
    free(f->conf.swtpm_search_path);
    f->conf.swtpm_search_path = f->search;
    free(f->conf.cache_dir);
    f->conf.cache_dir = strdup(f->cache);
    f->conf.swtpm_timeout = 5;
    f->swtpm_out = CAPS_FULL;
    f->setup_out = CAPS_SETUP;
    vtpm_command_set_dry_run(dry_run, f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;

    vtpm_command_set_dry_run(NULL, NULL);
    f->conf.swtpm_search_path = NULL;
    vtpm_conf_clear(&f->conf);
    remove_tree(f->root);
    free(f);
    return 0;
}

static void
probe(fixture *f, vtpm_swtpm_facts *facts)
{
    memset(facts, 0, sizeof(*facts));
    vtpm_swtpm_probe(&f->conf, facts);
}

static void
cache_path(const fixture *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", f->cache, VTPM_SWTPM_CACHE_FILE);
}

static void
test_swtpm_probe_reads_capabilities(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];

    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_string_equal(facts.error, "");
    assert_true(facts.swtpm.found);
    snprintf(path, sizeof(path), "%s/swtpm_ioctl", f->bin);
    assert_string_equal(facts.swtpm_ioctl.path, path);
    assert_string_equal(facts.version, "0.7.1");
    assert_true(facts.tpm_1_2);
    assert_true(facts.tpm_2_0);
    assert_non_null(strstr(facts.features, "cmdarg-pwd-fd"));
    assert_true(facts.setup_caps);
    assert_non_null(strstr(facts.setup_features, "cmdarg-pwdfile-fd"));
    assert_true(facts.pwd_fd);
    assert_true(facts.setup_pwdfile_fd);
    assert_false(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 1);
    assert_int_equal(f->calls_setup, 1);
}

static void
test_swtpm_caps_come_from_cache_on_second_probe(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts first, second;

    probe(f, &first);
    probe(f, &second);
    assert_int_equal(f->calls_swtpm, 1);
    assert_int_equal(f->calls_setup, 1);
    assert_false(first.from_cache);
    assert_true(second.from_cache);
    assert_int_equal(second.status, VTPM_PROBE_OK);
    assert_string_equal(second.version, first.version);
    assert_string_equal(second.features, first.features);
    assert_string_equal(second.setup_features, first.setup_features);
    assert_true(second.tpm_1_2);
    assert_true(second.pwd_fd);
    assert_true(second.setup_pwdfile_fd);
}

static void
test_swtpm_cache_misses_when_binary_changes(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    char path[256];

    probe(f, &facts);
    /* an upgrade: new mtime, and a swtpm without TPM 1.2 */
    snprintf(path, sizeof(path), "%s/swtpm", f->bin);
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    f->swtpm_out = CAPS_NO_1_2;
    probe(f, &facts);
    assert_int_equal(f->calls_swtpm, 2);
    assert_int_equal(f->calls_setup, 1);   /* swtpm_setup did not change */
    assert_false(facts.from_cache);
    assert_false(facts.tpm_1_2);
    assert_string_equal(facts.version, "0.8.0");
    assert_false(facts.pwd_fd);            /* the new swtpm lacks it */
    assert_true(facts.setup_pwdfile_fd);   /* swtpm_setup's, from the cache */
}

static void
test_swtpm_cache_misses_when_binary_is_replaced(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256], tmp[256];
    struct stat st;

    probe(f, &facts);
    /* same mtime and size, another inode (a package manager's rename) */
    snprintf(path, sizeof(path), "%s/swtpm", f->bin);
    snprintf(tmp, sizeof(tmp), "%s/swtpm.new", f->bin);
    assert_int_equal(stat(path, &st), 0);
    write_file(tmp, "#!/bin/sh\nexit 99\n", 0755);
    {
        struct timespec times[2] = {st.st_atim, st.st_mtim};

        assert_int_equal(utimensat(AT_FDCWD, tmp, times, 0), 0);
    }
    assert_int_equal(rename(tmp, path), 0);
    probe(f, &facts);
    assert_int_equal(f->calls_swtpm, 2);
}

static void
test_swtpm_corrupt_cache_is_ignored_and_rewritten(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];

    probe(f, &facts);
    cache_path(f, path, sizeof(path));
    write_file(path, "{\"format\":1,\"entries\":{\"/x\":", 0644);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_false(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 2);
    probe(f, &facts);
    assert_true(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 2);
}

static void
test_swtpm_cache_with_garbage_entry_is_ignored(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];
    json_t *cache, *entries;
    const char *key;
    json_t *entry;

    probe(f, &facts);
    /* a well-formed file whose cached output is not capabilities */
    cache_path(f, path, sizeof(path));
    cache = json_load_file(path, 0, NULL);
    assert_non_null(cache);
    entries = json_object_get(cache, "entries");
    json_object_foreach(entries, key, entry)
        json_object_set_new(entry, "output", json_string("garbage"));
    assert_int_equal(json_dump_file(cache, path, 0), 0);
    json_decref(cache);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_true(facts.tpm_2_0);
    assert_int_equal(f->calls_swtpm, 2);
}

static void
test_swtpm_cache_entry_expires(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];
    json_t *cache, *entry;
    const char *key;

    probe(f, &facts);
    cache_path(f, path, sizeof(path));
    cache = json_load_file(path, 0, NULL);
    assert_non_null(cache);
    json_object_foreach(json_object_get(cache, "entries"), key, entry)
        json_object_set_new(entry, "stored",
                            json_integer((json_int_t)time(NULL) -
                                         VTPM_SWTPM_CACHE_MAX_AGE - 10));
    assert_int_equal(json_dump_file(cache, path, 0), 0);
    json_decref(cache);
    probe(f, &facts);
    assert_false(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 2);
    assert_int_equal(f->calls_setup, 2);
}

static void
test_swtpm_unwritable_cache_is_not_fatal(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char file[256];

    /* cache_dir below a regular file: neither mkdir nor open can work */
    snprintf(file, sizeof(file), "%s/not-a-folder", f->root);
    write_file(file, "x", 0644);
    free(f->conf.cache_dir);
    assert_true(asprintf(&f->conf.cache_dir, "%s/cache", file) > 0);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_true(facts.tpm_1_2);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_false(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 2);
}

static void
test_swtpm_failing_capabilities_are_not_cached(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char expected[512];

    f->swtpm_exit = 1;
    f->swtpm_out = "";
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    snprintf(expected, sizeof(expected),
             "no capabilities from '%s/swtpm': '%s/swtpm' exited with status 1", f->bin,
             f->bin);
    assert_string_equal(facts.error, expected);
    assert_false(facts.tpm_1_2);
    assert_false(facts.tpm_2_0);
    probe(f, &facts);
    assert_int_equal(f->calls_swtpm, 2);
    /* once it works again, it is probed and cached */
    f->swtpm_exit = 0;
    f->swtpm_out = CAPS_FULL;
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    probe(f, &facts);
    assert_true(facts.from_cache);
    assert_int_equal(f->calls_swtpm, 3);
}

static void
test_swtpm_garbage_capabilities_mean_none(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    f->swtpm_out = "Usage: swtpm socket [options]\n";
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    assert_non_null(strstr(facts.error, "no capabilities from"));
    assert_false(facts.tpm_1_2);
    assert_false(facts.tpm_2_0);
    assert_string_equal(facts.version, "");
}

static void
test_swtpm_without_tpm_1_2(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    f->swtpm_out = CAPS_NO_1_2;
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_false(facts.tpm_1_2);
    assert_true(facts.tpm_2_0);
}

/* Each flag comes from its own binary: libvirt asks swtpm for cmdarg-pwd-fd
 * and swtpm_setup for cmdarg-pwdfile-fd. */
static void
test_swtpm_passphrase_fd_features_come_from_their_own_binary(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    f->swtpm_out = "{\"type\":\"swtpm\",\"features\":[\"tpm-2.0\",\"cmdarg-pwdfile-fd\"]}";
    f->setup_out = "{\"type\":\"swtpm_setup\",\"features\":[\"tpm-2.0\",\"cmdarg-pwd-fd\"]}";
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_OK);
    assert_true(facts.setup_caps);
    assert_false(facts.pwd_fd);
    assert_false(facts.setup_pwdfile_fd);

    f->swtpm_out = CAPS_FULL;
    f->setup_out = CAPS_SETUP;
    remove_tree(f->cache);
    vtpm_command_set_dry_run(dry_run, f);
    probe(f, &facts);
    assert_true(facts.pwd_fd);
    assert_true(facts.setup_pwdfile_fd);
}

static void
test_swtpm_missing_binary_is_named(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256], expected[512];

    snprintf(path, sizeof(path), "%s/swtpm_ioctl", f->bin);
    assert_int_equal(unlink(path), 0);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    assert_false(facts.swtpm_ioctl.found);
    assert_true(facts.swtpm.found);
    snprintf(expected, sizeof(expected),
             "swtpm_ioctl not found on the search path '%s'", f->bin);
    assert_string_equal(facts.error, expected);
    /* what the binaries that are there can do is still reported */
    assert_true(facts.tpm_2_0);
}

static void
test_swtpm_non_executable_file_is_not_found(void **state)
{
    fixture *f = *state;
    char path[256], found[512];

    snprintf(path, sizeof(path), "%s/swtpm", f->bin);
    assert_int_equal(chmod(path, 0644), 0);
    /* even root needs one x bit to execute a file */
    assert_false(vtpm_swtpm_find_binary((const char *const *)f->search, "swtpm",
                                        found, sizeof(found)));
    assert_string_equal(found, "");
}

static void
test_swtpm_search_path_order_wins(void **state)
{
    fixture *f = *state;
    char second[256], path[512], found[512];
    const char *search[3];

    snprintf(second, sizeof(second), "%s/second", f->root);
    mkdir(second, 0755);
    snprintf(path, sizeof(path), "%s/swtpm", second);
    write_file(path, "#!/bin/sh\n", 0755);
    search[0] = second;
    search[1] = f->bin;
    search[2] = NULL;
    assert_true(vtpm_swtpm_find_binary(search, "swtpm", found, sizeof(found)));
    assert_string_equal(found, path);
    assert_true(vtpm_swtpm_find_binary(search, "swtpm_setup", found, sizeof(found)));
    snprintf(path, sizeof(path), "%s/swtpm_setup", f->bin);
    assert_string_equal(found, path);
}

static void
test_swtpm_hanging_binary_times_out(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];
    double start;

    /* a real spawn of a swtpm that never answers */
    vtpm_command_set_dry_run(NULL, NULL);
    snprintf(path, sizeof(path), "%s/swtpm", f->bin);
    write_file(path, "#!/bin/sh\nexec sleep 30\n", 0755);
    snprintf(path, sizeof(path), "%s/swtpm_setup", f->bin);
    write_file(path, "#!/bin/sh\nexec sleep 30\n", 0755);
    f->conf.swtpm_timeout = 0.3;
    start = vtpm_clock_now();
    probe(f, &facts);
    assert_true(vtpm_clock_now() - start < 3.0);
    /* slow is not broken: nothing is concluded, so no trait changes */
    assert_int_equal(facts.status, VTPM_PROBE_INCONCLUSIVE);
    snprintf(path, sizeof(path),
             "'%s/swtpm socket --print-capabilities' timed out after 0.3 s", f->bin);
    assert_string_equal(facts.error, path);
    assert_false(facts.setup_caps);
    assert_false(facts.setup_pwdfile_fd);
}

/* Rewrites every cached output as @output: what someone who can write the
 * cache would do to make the host claim traits. */
static void
cache_forge(const fixture *f, const char *output)
{
    char path[256];
    json_t *cache, *entry;
    const char *key;

    cache_path(f, path, sizeof(path));
    cache = json_load_file(path, 0, NULL);
    assert_non_null(cache);
    json_object_foreach(json_object_get(cache, "entries"), key, entry)
        json_object_set_new(entry, "output", json_string(output));
    assert_int_equal(json_dump_file(cache, path, 0), 0);
    json_decref(cache);
}

/* Caches the capabilities of a swtpm without TPM 1.2, then forges the cache
 * to claim it. */
static void
cache_probe_then_forge(fixture *f)
{
    vtpm_swtpm_facts facts;

    f->swtpm_out = CAPS_NO_1_2;
    probe(f, &facts);
    cache_forge(f, CAPS_FULL);
}

/* The forged cache was not believed: swtpm ran again. */
static void
assert_forgery_ignored(fixture *f, int calls)
{
    vtpm_swtpm_facts facts;

    probe(f, &facts);
    assert_false(facts.from_cache);
    assert_false(facts.tpm_1_2);
    assert_int_equal(f->calls_swtpm, calls);
}

static void
test_swtpm_cache_is_private(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];
    struct stat st;

    probe(f, &facts);
    assert_int_equal(stat(f->cache, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    cache_path(f, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_swtpm_world_writable_cache_file_is_not_used(void **state)
{
    fixture *f = *state;
    char path[256];

    cache_probe_then_forge(f);
    cache_path(f, path, sizeof(path));
    assert_int_equal(chmod(path, 0666), 0);
    assert_forgery_ignored(f, 2);
}

static void
test_swtpm_group_writable_cache_folder_is_not_used(void **state)
{
    fixture *f = *state;

    cache_probe_then_forge(f);
    assert_int_equal(chmod(f->cache, 0770), 0);
    assert_forgery_ignored(f, 2);
}

static void
test_swtpm_cache_of_another_user_is_not_used(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];

    if (geteuid() != 0)
        skip();
    cache_probe_then_forge(f);
    cache_path(f, path, sizeof(path));
    assert_int_equal(chown(path, 65534, 65534), 0); /* nobody */
    assert_forgery_ignored(f, 2);
    /* the folder too */
    probe(f, &facts);
    assert_true(facts.from_cache);
    cache_forge(f, CAPS_FULL);
    assert_int_equal(chown(f->cache, 65534, 65534), 0);
    assert_forgery_ignored(f, 3);
}

static void
test_swtpm_symlinked_cache_folder_is_refused(void **state)
{
    fixture *f = *state;
    char real[256], path[300];

    cache_probe_then_forge(f);
    snprintf(real, sizeof(real), "%s/elsewhere", f->root);
    assert_int_equal(rename(f->cache, real), 0);
    assert_int_equal(symlink(real, f->cache), 0);
    assert_forgery_ignored(f, 2);
    /* nor written through the link */
    snprintf(path, sizeof(path), "%s/%s", real, VTPM_SWTPM_CACHE_FILE);
    {
        json_t *cache = json_load_file(path, 0, NULL);
        json_t *entry;
        const char *key;

        assert_non_null(cache);
        json_object_foreach(json_object_get(cache, "entries"), key, entry)
            assert_string_equal(json_string_value(json_object_get(entry, "output")),
                                CAPS_FULL);
        json_decref(cache);
    }
}

static void
test_swtpm_cache_stays_bounded(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256], bin[300];
    json_t *cache, *entries, *entry;
    const char *key;
    struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

    probe(f, &facts);
    cache_path(f, path, sizeof(path));
    cache = json_load_file(path, 0, NULL);
    assert_non_null(cache);
    entries = json_object_get(cache, "entries");
    entry = json_object_get(entries, facts.swtpm.path);
    assert_non_null(entry);
    for (int i = 0; i < 100; i++) {
        snprintf(bin, sizeof(bin), "/opt/old-%d/swtpm", i);
        json_object_set_new(entries, bin, json_deep_copy(entry));
    }
    assert_int_equal(json_dump_file(cache, path, 0), 0);
    json_decref(cache);
    /* swtpm changes: the probe writes the cache again */
    assert_int_equal(utimensat(AT_FDCWD, facts.swtpm.path, times, 0), 0);
    probe(f, &facts);
    assert_int_equal(f->calls_swtpm, 2);
    cache = json_load_file(path, 0, NULL);
    assert_non_null(cache);
    entries = json_object_get(cache, "entries");
    assert_int_equal(json_object_size(entries), 2);
    json_object_foreach(entries, key, entry)
        assert_true(strcmp(key, facts.swtpm.path) == 0 ||
                    strcmp(key, facts.swtpm_setup.path) == 0);
    json_decref(cache);
}

/* Replaces the fake binaries' folder in @s with /usr/bin, where the golden
 * cases keep theirs. */
static void
bin_to_usr_bin(const fixture *f, char *s, size_t size)
{
    char out[1024];
    size_t blen = strlen(f->bin), used = 0;
    const char *p = s, *hit;

    while ((hit = strstr(p, f->bin)) && used < sizeof(out)) {
        used += (size_t)snprintf(out + used, sizeof(out) - used, "%.*s/usr/bin",
                                 (int)(hit - p), p);
        p = hit + blen;
    }
    if (used < sizeof(out))
        snprintf(out + used, sizeof(out) - used, "%s", p);
    snprintf(s, size, "%s", out);
}

/* The lines of the golden case's expected.txt a report must show. */
static void
assert_report_matches_golden(const vtpm_report *report, const char *expected)
{
    char line[600];

    assert_true(report->inconclusive);
    snprintf(line, sizeof(line), "\ninconclusive: %s\n", report->inconclusive_reason);
    if (!strstr(expected, line))
        fail_msg("'%s' is not in the golden case", line);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        snprintf(line, sizeof(line), "\n%s: absent [%s] %s\n",
                 vtpm_trait_name((vtpm_trait)t), report->traits[t].reason_code,
                 report->traits[t].reason);
        if (!strstr(expected, line))
            fail_msg("'%s' is not in the golden case", line);
    }
}

/*
 * The real probe's facts are those of tests/data/decide/@name (with the fake
 * binaries' folder written /usr/bin), and decide() on them gives that case's
 * inconclusive report.
 */
static void
assert_probe_matches_golden(const fixture *f, vtpm_swtpm_facts *real, const char *name)
{
    const char *src = getenv("VTPM_TEST_SRCDIR");
    char path[512], err[256];
    json_t *golden, *over, *got;
    vtpm_facts facts;
    vtpm_report report;
    vtpm_conf conf;
    char *expected;
    size_t len;
    FILE *in;

    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/data/decide/base-facts.json", src);
    golden = json_load_file(path, 0, NULL);
    snprintf(path, sizeof(path), "%s/data/decide/%s/facts.json", src, name);
    over = json_load_file(path, 0, NULL);
    assert_non_null(golden);
    assert_non_null(over);
    assert_int_equal(json_object_update_recursive(golden, over), 0);
    assert_int_equal(vtpm_facts_from_json(golden, &facts, err, sizeof(err)), 0);
    bin_to_usr_bin(f, real->error, sizeof(real->error));
    bin_to_usr_bin(f, real->swtpm.path, sizeof(real->swtpm.path));
    bin_to_usr_bin(f, real->swtpm_setup.path, sizeof(real->swtpm_setup.path));
    bin_to_usr_bin(f, real->swtpm_ioctl.path, sizeof(real->swtpm_ioctl.path));
    facts.swtpm = *real;
    got = vtpm_facts_to_json(&facts);
    assert_non_null(got);
    if (!json_equal(json_object_get(got, "swtpm"), json_object_get(golden, "swtpm"))) {
        char *text = json_dumps(json_object_get(got, "swtpm"), JSON_SORT_KEYS);

        fail_msg("the probe's facts differ from %s's: %s", name, text ? text : "?");
    }
    json_decref(got);
    json_decref(golden);
    json_decref(over);

    snprintf(path, sizeof(path), "%s/data/decide/base.yaml", src);
    assert_int_equal(vtpm_conf_load_file(path, &conf, err, sizeof(err)), 0);
    vtpm_decide(&facts, &conf, &report);
    snprintf(path, sizeof(path), "%s/data/decide/%s/expected.txt", src, name);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_int_equal(vtpm_file_read_stream(in, 1 << 16, &expected, &len), 0);
    fclose(in);
    assert_report_matches_golden(&report, expected);
    free(expected);
    vtpm_conf_clear(&conf);
}

/* Makes @name in the fake binaries' folder run @script, and ends the dry run:
 * the probe then spawns the real script. */
static void
fake_binary(const fixture *f, const char *name, const char *script)
{
    char path[256];

    vtpm_command_set_dry_run(NULL, NULL);
    snprintf(path, sizeof(path), "%s/%s", f->bin, name);
    write_file(path, script, 0755);
}

static void
test_swtpm_timeout_is_inconclusive_through_decide(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    fake_binary(f, "swtpm", "#!/bin/sh\nexec sleep 30\n");
    f->conf.swtpm_timeout = 0.5;
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_INCONCLUSIVE);
    assert_probe_matches_golden(f, &facts, "swtpm-timeout-inconclusive");
}

static void
test_swtpm_setup_timeout_is_inconclusive_through_decide(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    fake_binary(f, "swtpm", "#!/bin/sh\necho '" CAPS_FULL "'\n");
    fake_binary(f, "swtpm_setup", "#!/bin/sh\nexec sleep 30\n");
    f->conf.swtpm_timeout = 0.5;
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_INCONCLUSIVE);
    assert_true(facts.tpm_2_0);
    assert_false(facts.setup_caps);
    assert_probe_matches_golden(f, &facts, "swtpm-setup-timeout-inconclusive");
}

/* A swtpm that crashes has no capabilities, as libvirt sees it. */
static void
test_swtpm_crash_stays_failed(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;

    fake_binary(f, "swtpm", "#!/bin/sh\nkill -SEGV $$\n");
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    assert_non_null(strstr(facts.error, "killed by signal 11"));
}

static void
test_swtpm_real_garbage_and_exit_code(void **state)
{
    fixture *f = *state;
    vtpm_swtpm_facts facts;
    char path[256];

    vtpm_command_set_dry_run(NULL, NULL);
    snprintf(path, sizeof(path), "%s/swtpm", f->bin);
    write_file(path, "#!/bin/sh\nprintf '{\"features\": [\"tpm-2.0\"'\n", 0755);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    assert_non_null(strstr(facts.error, "no capabilities from"));
    assert_false(facts.tpm_2_0);
    /* an old swtpm that knows no --print-capabilities */
    write_file(path, "#!/bin/sh\necho \"swtpm: unrecognized option\" >&2\nexit 1\n", 0755);
    probe(f, &facts);
    assert_int_equal(facts.status, VTPM_PROBE_FAILED);
    assert_non_null(strstr(facts.error, "exited with status 1"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_swtpm_probe_reads_capabilities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_caps_come_from_cache_on_second_probe,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_misses_when_binary_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_misses_when_binary_is_replaced,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_corrupt_cache_is_ignored_and_rewritten,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_with_garbage_entry_is_ignored,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_entry_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_unwritable_cache_is_not_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_failing_capabilities_are_not_cached,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_garbage_capabilities_mean_none, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_without_tpm_1_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_passphrase_fd_features_come_from_their_own_binary,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_missing_binary_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_non_executable_file_is_not_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_search_path_order_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_hanging_binary_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_real_garbage_and_exit_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_timeout_is_inconclusive_through_decide,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_setup_timeout_is_inconclusive_through_decide,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_crash_stays_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_world_writable_cache_file_is_not_used,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_group_writable_cache_folder_is_not_used,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_of_another_user_is_not_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_symlinked_cache_folder_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swtpm_cache_stays_bounded, setup, teardown),
    };

    return cmocka_run_group_tests_name("probe_swtpm", tests, NULL, NULL);
}
