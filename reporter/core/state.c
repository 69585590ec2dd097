/* SPDX-License-Identifier: Apache-2.0 */
/* The reporter's state folder: last-result.json (for nova-compute) and published.json (heartbeats). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facts_json.h"
#include "file.h"
#include "state.h"
#include "util.h"

int
vtpm_state_dir_prepare(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    bool created = false;
    int fd;

    if (!dir || dir[0] != '/') {
        vtpm_strfmt(err, errlen, "state folder '%s' is not an absolute path", dir ? dir : "");
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            vtpm_strfmt(err, errlen, "cannot create state folder '%s': %s", dir,
                        strerror(errno));
            return -1;
        }
        created = true;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        vtpm_strfmt(err, errlen, "cannot open state folder '%s': %s", dir,
                    errno == ELOOP || errno == ENOTDIR ? "not a folder (a symbolic link?)"
                                                       : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* the umask may have taken read access from nova-compute's user */
    if (created && st.st_uid == geteuid() && fchmod(fd, 0755) == 0)
        st.st_mode = (st.st_mode & ~(mode_t)07777) | 0755;
    close(fd);
    if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        vtpm_strfmt(err, errlen, "refusing state folder '%s': others can write it", dir);
        return -1;
    }
    return 0;
}

/* The parts both files share: format, host, provider and traits at @now. */
static json_t *
state_doc_new(const vtpm_report *report, const char *provider_uuid, time_t now)
{
    json_t *traits = vtpm_report_traits_to_json(report);
    json_t *doc;

    if (!traits)
        return NULL;
    doc = json_pack("{s:i, s:s%, s:o, s:I, s:o}", "format", VTPM_STATE_FORMAT, "host",
                    report->host, strlen(report->host), "provider_uuid",
                    provider_uuid && provider_uuid[0] ? json_string(provider_uuid) : json_null(),
                    "time", (json_int_t)now, "traits", traits);
    return doc;
}

/* Writes @doc as @dir/@name with @mode. */
static int
state_write(const char *dir, const char *name, const json_t *doc, mode_t mode, char *err,
            size_t errlen)
{
    char path[4096];
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    char *line;
    size_t len;
    int rc;

    /* one line feed at the end, as text files have */
    line = text ? realloc(text, (len = strlen(text)) + 2) : NULL;
    if (!line) {
        free(text);
        vtpm_strfmt(err, errlen, "cannot write '%s/%s': out of memory", dir, name);
        return -1;
    }
    text = line;
    text[len] = '\n';
    text[len + 1] = '\0';
    vtpm_strfmt(path, sizeof(path), "%s/%s", dir, name);
    rc = vtpm_file_write_atomic(path, text, len + 1, mode);
    if (rc < 0)
        vtpm_strfmt(err, errlen, "cannot write '%s': %s", path, strerror(errno));
    free(text);
    return rc;
}

json_t *
vtpm_state_result_to_json(const vtpm_report *report, const char *provider_uuid, time_t now)
{
    if (!provider_uuid || !provider_uuid[0])
        provider_uuid = report->provider_uuid;
    return state_doc_new(report, provider_uuid, now);
}

int
vtpm_state_result_write(const char *dir, const vtpm_report *report, const char *provider_uuid,
                        time_t now, char *err, size_t errlen)
{
    json_t *doc;
    int rc;

    if (report->inconclusive) {
        vtpm_strfmt(err, errlen, "not writing '%s/" VTPM_STATE_RESULT_FILE
                    "': the probe did not conclude", dir);
        return -1;
    }
    doc = vtpm_state_result_to_json(report, provider_uuid, now);
    rc = state_write(dir, VTPM_STATE_RESULT_FILE, doc, 0644, err, errlen);
    json_decref(doc);
    return rc;
}

/* Opens @dir/@name for reading if it is a regular file of this user that
 * nobody else can write. Returns the stream, or NULL with *@absent or @why. */
static FILE *
state_open_own(const char *dir, const char *name, bool *absent, char *why, size_t whylen)
{
    char path[4096];
    struct stat st;
    FILE *f;
    int fd;

    vtpm_strfmt(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *absent = errno == ENOENT;
        vtpm_strfmt(why, whylen, "cannot open '%s': %s", path,
                    errno == ELOOP ? "a symbolic link" : strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH))) {
        vtpm_strfmt(why, whylen, "refusing '%s': not a regular file of this user that only "
                    "it can write", path);
        close(fd);
        return NULL;
    }
    f = fdopen(fd, "r");
    if (!f) {
        vtpm_strfmt(why, whylen, "cannot read '%s': %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

/* Whether @doc has the shape published.json has. */
static bool
state_published_valid(const json_t *doc)
{
    const json_t *targets = json_object_get(doc, "targets");
    const json_t *traits = json_object_get(doc, "traits");
    const json_t *uuid = json_object_get(doc, "provider_uuid");
    const char *key;
    json_t *v;

    if (json_integer_value(json_object_get(doc, "format")) != VTPM_STATE_FORMAT ||
        !json_is_integer(json_object_get(doc, "format")) ||
        !json_is_string(json_object_get(doc, "host")) ||
        !(json_is_string(uuid) || json_is_null(uuid)) ||
        !json_is_integer(json_object_get(doc, "time")) || !json_is_object(targets) ||
        !json_is_object(traits))
        return false;
    json_object_foreach((json_t *)targets, key, v)
        if (!json_is_string(v))
            return false;
    json_object_foreach((json_t *)traits, key, v)
        if (vtpm_trait_from_name(key) < 0 || !json_is_boolean(json_object_get(v, "present")))
            return false;
    return true;
}

json_t *
vtpm_state_published_load(const char *dir, bool *absent, char *why, size_t whylen)
{
    FILE *f;
    char *text;
    size_t len;
    json_t *doc;
    json_error_t jerr;

    *absent = false;
    f = state_open_own(dir, VTPM_STATE_PUBLISHED_FILE, absent, why, whylen);
    if (!f)
        return NULL;
    if (vtpm_file_read_stream(f, VTPM_STATE_FILE_MAX, &text, &len) < 0) {
        vtpm_strfmt(why, whylen, "cannot read '%s/" VTPM_STATE_PUBLISHED_FILE "': %s", dir,
                    errno == EFBIG ? "too large" : strerror(errno));
        fclose(f);
        return NULL;
    }
    fclose(f);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!doc || !state_published_valid(doc)) {
        vtpm_strfmt(why, whylen, "'%s/" VTPM_STATE_PUBLISHED_FILE "' is not a publish record%s%s",
                    dir, doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Whether @published has a record of every target, at the same place. */
static bool
state_targets_match(const json_t *published, const vtpm_state_target *targets, size_t ntargets,
                    char *why, size_t whylen)
{
    const json_t *recorded = json_object_get(published, "targets");

    for (size_t i = 0; i < ntargets; i++) {
        const char *where = json_string_value(json_object_get(recorded, targets[i].kind));

        if (!where) {
            vtpm_strfmt(why, whylen, "no publish to %s recorded", targets[i].kind);
            return false;
        }
        if (strcmp(where, targets[i].where) != 0) {
            vtpm_strfmt(why, whylen, "the %s inventory changed since the last publish",
                        targets[i].kind);
            return false;
        }
    }
    return true;
}

/* Whether @published holds @report's host, provider and traits. */
static bool
state_report_matches(const json_t *published, const vtpm_report *report, char *why,
                     size_t whylen)
{
    const char *uuid = json_string_value(json_object_get(published, "provider_uuid"));
    json_t *traits;
    bool same;

    if (strcmp(json_string_value(json_object_get(published, "host")), report->host) != 0 ||
        strcmp(uuid ? uuid : "", report->provider_uuid) != 0) {
        vtpm_strfmt(why, whylen, "the host or provider changed since the last publish");
        return false;
    }
    traits = vtpm_report_traits_to_json(report);
    same = traits && json_equal(traits, json_object_get(published, "traits"));
    json_decref(traits);
    if (!same)
        vtpm_strfmt(why, whylen, "traits or reasons changed since the last publish");
    return same;
}

bool
vtpm_state_published_fresh(const json_t *published, const vtpm_report *report,
                           const vtpm_state_target *targets, size_t ntargets,
                           double heartbeat, time_t now, char *why, size_t whylen)
{
    long long age;

    if (report->inconclusive) {
        vtpm_strfmt(why, whylen, "the probe did not conclude");
        return false;
    }
    if (heartbeat <= 0) {
        vtpm_strfmt(why, whylen, "heartbeat is 0: publishing every run");
        return false;
    }
    if (!published) {
        vtpm_strfmt(why, whylen, "no successful publish recorded");
        return false;
    }
    if (!state_report_matches(published, report, why, whylen) ||
        !state_targets_match(published, targets, ntargets, why, whylen))
        return false;
    age = (long long)now - (long long)json_integer_value(json_object_get(published, "time"));
    if (age < 0) {
        vtpm_strfmt(why, whylen, "the last publish is recorded in the future (%lld s ahead)",
                    -age);
        return false;
    }
    if ((double)age >= heartbeat) {
        vtpm_strfmt(why, whylen, "heartbeat: last published %lld s ago (heartbeat %g s)",
                    age, heartbeat);
        return false;
    }
    vtpm_strfmt(why, whylen, "unchanged since published %lld s ago (heartbeat %g s): "
                "not publishing", age, heartbeat);
    return true;
}

int
vtpm_state_published_write(const char *dir, const vtpm_report *report,
                           const vtpm_state_target *targets, size_t ntargets, time_t now,
                           char *err, size_t errlen)
{
    json_t *doc = state_doc_new(report, report->provider_uuid, now);
    json_t *recorded = json_object();
    int rc;

    if (!doc || !recorded) {
        json_decref(recorded);
        recorded = NULL;
    }
    for (size_t i = 0; recorded && i < ntargets; i++)
        if (json_object_set_new(recorded, targets[i].kind, json_string(targets[i].where)) < 0)
            break;
    if (!recorded || json_object_size(recorded) != ntargets ||
        json_object_set_new(doc, "targets", json_incref(recorded)) < 0) {
        json_decref(recorded);
        json_decref(doc);
        vtpm_strfmt(err, errlen, "cannot write '%s/" VTPM_STATE_PUBLISHED_FILE
                    "': out of memory", dir);
        return -1;
    }
    json_decref(recorded);
    rc = state_write(dir, VTPM_STATE_PUBLISHED_FILE, doc, 0600, err, errlen);
    json_decref(doc);
    return rc;
}

bool
vtpm_state_published_traits(const json_t *published, const vtpm_state_target *target,
                            vtpm_traitset *present)
{
    const char *where =
        json_string_value(json_object_get(json_object_get(published, "targets"), target->kind));
    const char *key;
    json_t *v;

    *present = 0;
    if (!where || strcmp(where, target->where) != 0)
        return false;
    json_object_foreach(json_object_get(published, "traits"), key, v) {
        int t = vtpm_trait_from_name(key);

        if (t >= 0 && json_is_true(json_object_get(v, "present")))
            *present |= VTPM_TRAITSET_BIT(t);
    }
    return true;
}
