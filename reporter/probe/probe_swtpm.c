/* SPDX-License-Identifier: Apache-2.0 */
/* The swtpm probe: find the binaries, ask them for capabilities, cache the answer. */
#include "probe_swtpm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "command.h"
#include "log.h"
#include "probe_swtpm-priv.h"
#include "swtpm_caps.h"
#include "util.h"

static bool
find_in_dir(const char *dir, size_t dirlen, const char *name, char *path, size_t size)
{
    struct stat st;
    int n;

    if (dirlen == 0) {
        dir = ".";
        dirlen = 1;
    }
    n = snprintf(path, size, "%.*s/%s", (int)dirlen, dir, name);
    if (n < 0 || (size_t)n >= size)
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool
vtpm_swtpm_find_binary(const char *const *search_path, const char *name,
                       char *path, size_t size)
{
    if (search_path) {
        for (size_t i = 0; search_path[i]; i++) {
            if (find_in_dir(search_path[i], strlen(search_path[i]), name, path, size))
                return true;
        }
    } else {
        const char *p = getenv("PATH");

        if (!p)
            p = "/usr/bin:/bin";
        for (;;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);

            if (find_in_dir(p, len, name, path, size))
                return true;
            if (!colon)
                break;
            p = colon + 1;
        }
    }
    if (size)
        path[0] = '\0';
    return false;
}

static void
search_path_format(const char *const *search_path, char *buf, size_t size)
{
    size_t used = 0;

    if (!search_path) {
        vtpm_strfmt(buf, size, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; search_path[i] && used + 1 < size; i++) {
        vtpm_strfmt(buf + used, size - used, "%s%s", i ? ":" : "", search_path[i]);
        used += strlen(buf + used);
    }
}

/* --- the cache ------------------------------------------------------------ */

/*
 * Whether @st (of the cache folder or file) is safe to trust: owned by this
 * user or root and writable by nobody else. Anyone who can write the cache
 * can make this host claim traits. Logs why not at WARN level.
 */
static bool
cache_stat_safe(const struct stat *st, const char *path, bool folder)
{
    const char *why = NULL;

    if (folder ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
        why = folder ? "not a folder" : "not a regular file";
    else if (st->st_uid != geteuid() && st->st_uid != 0)
        why = "owned by another user";
    else if (st->st_mode & (S_IWGRP | S_IWOTH))
        why = "writable by group or others";
    else if (!folder && st->st_size > VTPM_SWTPM_CACHE_SIZE_MAX)
        why = "too large";
    if (why)
        VTPM_WARN("refusing swtpm cache %s '%s': %s", folder ? "folder" : "file", path, why);
    return !why;
}

/*
 * Opens the cache folder @dir, refusing a symbolic link and a folder others
 * can write. Returns a descriptor, or -1 (logged unless it does not exist).
 */
static int
cache_dir_open(const char *dir)
{
    struct stat st;
    int fd;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            VTPM_WARN("refusing swtpm cache folder '%s': a symbolic link", dir);
        else if (errno != ENOENT)
            VTPM_DEBUG("cannot open swtpm cache folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !cache_stat_safe(&st, dir, true)) {
        close(fd);
        return -1;
    }
    return fd;
}

static json_t *
cache_load(const char *dir)
{
    char path[4096];
    json_error_t jerr;
    json_t *root, *entries;
    struct stat st;
    int dfd, fd;

    if (!dir || !*dir)
        return NULL;
    vtpm_strfmt(path, sizeof(path), "%s/%s", dir, VTPM_SWTPM_CACHE_FILE);
    dfd = cache_dir_open(dir);
    if (dfd < 0)
        return NULL;
    fd = openat(dfd, VTPM_SWTPM_CACHE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0) {
        if (errno != ENOENT)
            VTPM_WARN("refusing swtpm cache file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !cache_stat_safe(&st, path, false)) {
        close(fd);
        return NULL;
    }
    root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    if (!root) {
        VTPM_DEBUG("ignoring swtpm cache '%s': %s", path, jerr.text);
        return NULL;
    }
    entries = json_object_get(root, "entries");
    if (json_integer_value(json_object_get(root, "format")) != VTPM_SWTPM_CACHE_FORMAT ||
        !json_is_object(entries)) {
        VTPM_DEBUG("ignoring swtpm cache '%s': unknown layout", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

static json_t *
cache_key(const struct stat *st)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "dev", (json_int_t)st->st_dev,
                     "ino", (json_int_t)st->st_ino,
                     "size", (json_int_t)st->st_size,
                     "mtime", (json_int_t)st->st_mtim.tv_sec,
                     "mtime_ns", (json_int_t)st->st_mtim.tv_nsec,
                     "ctime", (json_int_t)st->st_ctim.tv_sec,
                     "ctime_ns", (json_int_t)st->st_ctim.tv_nsec);
}

/* Returns the cached output for @binary, a borrowed string, or NULL. */
static const char *
cache_get(json_t *cache, const char *binary, const struct stat *st, time_t now)
{
    json_t *entry, *key;
    json_int_t stored;
    const char *out;
    bool same;

    if (!cache)
        return NULL;
    entry = json_object_get(json_object_get(cache, "entries"), binary);
    if (!json_is_object(entry))
        return NULL;
    key = cache_key(st);
    if (!key)
        return NULL;
    same = json_equal(key, json_object_get(entry, "key"));
    json_decref(key);
    stored = json_integer_value(json_object_get(entry, "stored"));
    out = json_string_value(json_object_get(entry, "output"));
    if (!same || !out)
        return NULL;
    if (now - (time_t)stored > VTPM_SWTPM_CACHE_MAX_AGE || (time_t)stored > now + 60)
        return NULL;
    return out;
}

static void
cache_put(json_t **cache, const char *binary, const struct stat *st,
          const char *output, time_t now)
{
    json_t *entry;

    if (!*cache)
        *cache = VTPM_ALLOC_CHECK(json_pack("{s:i,s:{}}", "format", VTPM_SWTPM_CACHE_FORMAT,
                                            "entries"));
    /* An output that is not UTF-8 is not kept: it is run again next time. */
    entry = json_pack("{s:o,s:I,s:s}", "key", VTPM_ALLOC_CHECK(cache_key(st)), "stored",
                      (json_int_t)now, "output", output);
    if (entry && json_object_set_new(json_object_get(*cache, "entries"), binary, entry) < 0)
        vtpm_alloc_abort();
}

/*
 * Keeps only the fresh entries of the binaries probed now (@binaries,
 * NULL-terminated), at most VTPM_SWTPM_CACHE_MAX_ENTRIES: the cache never
 * grows with binaries that moved or were removed.
 */
static void
cache_prune(json_t *cache, const char *const *binaries, time_t now)
{
    json_t *entries = json_object_get(cache, "entries");
    json_t *kept = VTPM_ALLOC_CHECK(json_object());

    for (size_t i = 0; binaries[i]; i++) {
        json_t *entry = json_object_get(entries, binaries[i]);
        json_int_t stored = json_integer_value(json_object_get(entry, "stored"));

        if (!json_is_object(entry) || now - (time_t)stored > VTPM_SWTPM_CACHE_MAX_AGE ||
            json_object_size(kept) >= VTPM_SWTPM_CACHE_MAX_ENTRIES)
            continue;
        if (json_object_set(kept, binaries[i], entry) < 0)
            vtpm_alloc_abort();
    }
    if (json_object_set_new(cache, "entries", kept) < 0)
        vtpm_alloc_abort();
}

/* Writes @cache into the folder @dfd as a private temporary file, then renames
 * it over the cache file, so that a concurrent reader sees either whole. */
static void
cache_write(int dfd, const char *dir, json_t *cache)
{
    char tmp[64];
    int fd;

    vtpm_strfmt(tmp, sizeof(tmp), ".%s.%ld", VTPM_SWTPM_CACHE_FILE, (long)getpid());
    (void)unlinkat(dfd, tmp, 0); /* left behind by a run that died with our pid */
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        VTPM_DEBUG("cannot write swtpm cache in '%s': %s", dir, strerror(errno));
        return;
    }
    if (fchmod(fd, 0600) < 0 || json_dumpfd(cache, fd, JSON_COMPACT) < 0 || close(fd) < 0) {
        VTPM_DEBUG("cannot write swtpm cache in '%s': %s", dir, strerror(errno));
        unlinkat(dfd, tmp, 0);
        return;
    }
    if (renameat(dfd, tmp, dfd, VTPM_SWTPM_CACHE_FILE) < 0) {
        VTPM_DEBUG("cannot replace swtpm cache in '%s': %s", dir, strerror(errno));
        unlinkat(dfd, tmp, 0);
    }
}

static void
cache_save(const char *dir, json_t *cache)
{
    int dfd;

    if (!dir || !*dir || !cache)
        return;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        VTPM_DEBUG("cannot create swtpm cache folder '%s': %s", dir, strerror(errno));
        return;
    }
    dfd = cache_dir_open(dir);
    if (dfd < 0)
        return;
    cache_write(dfd, dir, cache);
    close(dfd);
}

/* --- the probe ------------------------------------------------------------ */

/*
 * Gets @binary's capabilities (from the cache or by running it) and parses
 * them into @caps. Returns 0; -1 when it has none (it failed, crashed or
 * printed garbage); 1 when it did not answer in time, which says nothing
 * about what it can do. The reason is in @err.
 */
static int
caps_get(const vtpm_conf *conf, const char *binary, const char *const *argv,
         json_t **cache, bool *cache_dirty, bool *from_cache,
         vtpm_swtpm_facts *caps, char *err, size_t errlen)
{
    vtpm_command_opts opts = {.timeout = conf->swtpm_timeout > 0 ? conf->swtpm_timeout : 5,
                              .output_max = 64 * 1024};
    vtpm_command_result res;
    char perr[200], quoted[200];
    time_t now = time(NULL);
    const char *cached;
    struct stat st;
    bool have_stat;
    int rc;

    have_stat = stat(binary, &st) == 0;
    cached = have_stat ? cache_get(*cache, binary, &st, now) : NULL;
    if (cached) {
        if (vtpm_swtpm_caps_parse(cached, strlen(cached), caps, perr, sizeof(perr)) == 0) {
            *from_cache = true;
            return 0;
        }
        VTPM_DEBUG("ignoring cached capabilities of '%s': %s", binary, perr);
    }

    vtpm_quote(quoted, sizeof(quoted), binary);
    rc = vtpm_command_run(argv, &opts, &res);
    if (rc != 0 && res.outcome == VTPM_COMMAND_TIMED_OUT) {
        char line[200];

        vtpm_quote(quoted, sizeof(quoted), vtpm_command_format(line, sizeof(line), argv));
        vtpm_strfmt(err, errlen, "%s timed out after %.1f s", quoted, opts.timeout);
        vtpm_command_result_clear(&res);
        return 1;
    }
    if (rc != 0) {
        /* As libvirt does: a binary that fails here has no capabilities. */
        vtpm_strfmt(err, errlen, "no capabilities from %s: %s", quoted,
                    res.error[0] ? res.error : "failed");
        vtpm_command_result_clear(&res);
        return -1;
    }
    if (vtpm_swtpm_caps_parse(res.out, res.out_len, caps, perr, sizeof(perr)) < 0) {
        vtpm_strfmt(err, errlen, "no capabilities from %s: %s", quoted, perr);
        vtpm_command_result_clear(&res);
        return -1;
    }
    if (have_stat) {
        cache_put(cache, binary, &st, res.out, now);
        *cache_dirty = true;
    }
    vtpm_command_result_clear(&res);
    return 0;
}

/* Looks for swtpm, swtpm_setup and swtpm_ioctl; lists those not found in
 * @missing. */
static void
swtpm_find_binaries(const char *const *sp, vtpm_swtpm_facts *out, char *missing,
                    size_t missing_len)
{
    struct {
        const char *name;
        vtpm_binary_facts *facts;
    } bins[] = {
        {"swtpm", &out->swtpm},
        {"swtpm_setup", &out->swtpm_setup},
        {"swtpm_ioctl", &out->swtpm_ioctl},
    };

    for (size_t i = 0; i < VTPM_N_ELEMENTS(bins); i++) {
        bins[i].facts->found = vtpm_swtpm_find_binary(sp, bins[i].name, bins[i].facts->path,
                                                      sizeof(bins[i].facts->path));
        if (!bins[i].facts->found) {
            size_t used = strlen(missing);

            vtpm_strfmt(missing + used, missing_len - used, "%s%s",
                        used ? ", " : "", bins[i].name);
        }
    }
}

/* swtpm's capabilities into @out. Returns what caps_get() returns. */
static int
swtpm_get_caps(const vtpm_conf *conf, vtpm_swtpm_facts *out, json_t **cache, bool *dirty,
               bool *from_cache, char *err, size_t errlen)
{
    const char *argv[] = {out->swtpm.path, "socket", "--print-capabilities", NULL};
    vtpm_swtpm_facts caps;
    int rc;

    memset(&caps, 0, sizeof(caps));
    rc = caps_get(conf, out->swtpm.path, argv, cache, dirty, from_cache, &caps, err, errlen);
    if (rc != 0)
        return rc;
    memcpy(out->version, caps.version, sizeof(out->version));
    memcpy(out->features, caps.features, sizeof(out->features));
    out->tpm_1_2 = caps.tpm_1_2;
    out->tpm_2_0 = caps.tpm_2_0;
    out->pwd_fd = caps.pwd_fd;
    return 0;
}

/*
 * swtpm_setup's capabilities into @out; a swtpm_setup that fails has none.
 * Returns 1 with the reason in @err when it did not answer in time, else 0.
 */
static int
swtpm_setup_get_caps(const vtpm_conf *conf, vtpm_swtpm_facts *out, json_t **cache,
                     bool *dirty, bool *from_cache, char *err, size_t errlen)
{
    const char *argv[] = {out->swtpm_setup.path, "--print-capabilities", NULL};
    vtpm_swtpm_facts caps;
    int rc;

    memset(&caps, 0, sizeof(caps));
    rc = caps_get(conf, out->swtpm_setup.path, argv, cache, dirty, from_cache, &caps,
                  err, errlen);
    if (rc != 0) {
        VTPM_DEBUG("%s", err);
        return rc > 0 ? 1 : 0;
    }
    out->setup_caps = true;
    memcpy(out->setup_version, caps.version, sizeof(out->setup_version));
    memcpy(out->setup_features, caps.features, sizeof(out->setup_features));
    out->setup_pwdfile_fd = caps.setup_pwdfile_fd;
    return 0;
}

void
vtpm_swtpm_probe(const vtpm_conf *conf, vtpm_swtpm_facts *out)
{
    const char *const *sp = (const char *const *)conf->swtpm_search_path;
    char missing[128] = "", where[512], err[256] = "", serr[256] = "";
    bool dirty = false, from_cache = false, setup_from_cache = false;
    json_t *cache;
    int rc = 0, setup_rc = 0;

    swtpm_find_binaries(sp, out, missing, sizeof(missing));
    cache = cache_load(conf->cache_dir);
    if (out->swtpm.found)
        rc = swtpm_get_caps(conf, out, &cache, &dirty, &from_cache, err, sizeof(err));
    /* after a swtpm that timed out the answer is unknown anyway: no second wait */
    if (out->swtpm_setup.found && rc <= 0)
        setup_rc = swtpm_setup_get_caps(conf, out, &cache, &dirty, &setup_from_cache,
                                        serr, sizeof(serr));
    out->from_cache = from_cache && (!out->swtpm_setup.found || setup_from_cache);

    if (missing[0]) {
        search_path_format(sp, where, sizeof(where));
        out->status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->error, sizeof(out->error), "%s not found on the search path '%s'",
                    missing, where);
    } else if (rc < 0) {
        out->status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->error, sizeof(out->error), "%s", err);
    } else if (rc > 0 || setup_rc > 0) {
        /* a binary that is slow today may answer tomorrow: nothing changes */
        out->status = VTPM_PROBE_INCONCLUSIVE;
        vtpm_strfmt(out->error, sizeof(out->error), "%s", rc > 0 ? err : serr);
    } else {
        out->status = VTPM_PROBE_OK;
    }
    if (dirty) {
        const char *probed[] = {out->swtpm.path, out->swtpm_setup.path, NULL};

        cache_prune(cache, probed, time(NULL));
        cache_save(conf->cache_dir, cache);
    }
    json_decref(cache);
}
