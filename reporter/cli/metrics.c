/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-reporter run --metrics-file`: the run's outcome for node_exporter's textfile collector. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "exit.h"
#include "file.h"
#include "metrics.h"
#include "util.h"
#include "vtpm-config.h"

/* The file is a few hundred bytes; anything much larger is not ours. */
#define METRICS_MAX_SIZE 65536

#define M_TRAIT "vtpm_reporter_trait_present"
#define M_PUBLISH "vtpm_reporter_last_publish_timestamp_seconds"

void
vtpm_metrics_run_start(vtpm_metrics_run *run)
{
    memset(run, 0, sizeof(*run));
    run->started = vtpm_clock_wall();
    run->started_monotonic = vtpm_clock_now();
    run->exit_status = VTPM_EXIT_FAILURE;
}

void
vtpm_metrics_run_report(vtpm_metrics_run *run, const vtpm_report *report)
{
    run->probed = true;
    run->concluded = !report->inconclusive;
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        run->present[t] = report->traits[t].state == VTPM_TRAIT_STATE_PRESENT;
}

void
vtpm_metrics_run_finish(vtpm_metrics_run *run, int exit_status)
{
    run->exit_status = exit_status;
    run->duration = vtpm_clock_now() - run->started_monotonic;
    if (run->duration < 0)
        run->duration = 0;
    /* An inconclusive report is stored too, but it changes nothing: only a
     * concluded one keeps the inventory's view of this host current. */
    run->published = run->concluded && run->heartbeat_publish <= 0 &&
                     (exit_status == VTPM_EXIT_OK || exit_status == VTPM_EXIT_UNCHANGED);
}

/* The folder part of @path ("." for a bare name) into @dir. */
static int
metrics_folder(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return vtpm_strfmt(dir, size, ".") ? 0 : -1;
    if ((size_t)(slash - path) + 2 > size)
        return -1;
    vtpm_strfmt(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return 0;
}

int
vtpm_metrics_check_path(const char *path, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    char dir[4096];
    struct stat st;

    base = base ? base + 1 : path;
    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        vtpm_strfmt(err, errlen, "metrics file '%s' is not a file name", path);
        return -1;
    }
    if (metrics_folder(path, dir, sizeof(dir)) < 0) {
        vtpm_strfmt(err, errlen, "metrics file '%s': path too long", path);
        return -1;
    }
    if (stat(dir, &st) < 0) {
        vtpm_strfmt(err, errlen, "cannot use metrics folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        vtpm_strfmt(err, errlen, "cannot use metrics folder '%s': not a folder", dir);
        return -1;
    }
    return 0;
}

/* The line after @line, or NULL after the last. */
static const char *
metrics_next_line(const char *line)
{
    const char *nl = strchr(line, '\n');

    return nl ? nl + 1 : NULL;
}

/*
 * The value of the line "@prefix VALUE" in @text into *@value: a finite,
 * non-negative number and nothing else on the line. Returns whether found.
 */
static bool
metrics_previous(const char *text, const char *prefix, double *value)
{
    size_t n = strlen(prefix);

    for (const char *line = text; line; line = metrics_next_line(line)) {
        char *end;
        double v;

        if (strncmp(line, prefix, n) != 0 || line[n] != ' ')
            continue;
        errno = 0;
        v = strtod(line + n + 1, &end);
        if (errno || end == line + n + 1 || (*end && *end != '\n') || !isfinite(v) || v < 0)
            return false;
        *value = v;
        return true;
    }
    return false;
}

typedef struct {
    char *buf;
    size_t size;
    size_t len;
    bool overflow;
} metrics_text;

static void VTPM_PRINTF(2, 3)
metrics_add(metrics_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->len) {
        t->overflow = true;
        return;
    }
    t->len += (size_t)n;
}

/* "# HELP" and "# TYPE" of gauge @name. */
static void
metrics_gauge(metrics_text *t, const char *name, const char *help)
{
    metrics_add(t, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* Gauge @name without labels, its value @v with @decimals decimals. */
static void
metrics_value(metrics_text *t, const char *name, const char *help, double v, int decimals)
{
    metrics_gauge(t, name, help);
    metrics_add(t, "%s %.*f\n", name, decimals, v);
}

/* The trait lines: this run's decision, or the previous file's when this
 * run did not conclude (the inventory still holds what it published). */
static void
metrics_format_traits(metrics_text *t, const vtpm_metrics_run *run, const char *previous)
{
    bool header = false;

    for (int i = 0; i < VTPM_TRAIT_COUNT; i++) {
        char prefix[128];
        double v;

        vtpm_strfmt(prefix, sizeof(prefix), M_TRAIT "{trait=\"%s\"}",
                    vtpm_trait_name((vtpm_trait)i));
        if (run->concluded)
            v = run->present[i];
        else if (!previous || !metrics_previous(previous, prefix, &v) || (v != 0 && v != 1))
            continue;
        if (!header) {
            metrics_gauge(t, M_TRAIT, "Whether the last concluded probe found the trait "
                          "on this host (1) or not (0).");
            header = true;
        }
        metrics_add(t, "%s %d\n", prefix, v != 0);
    }
}

int
vtpm_metrics_format(const vtpm_metrics_run *run, const char *previous, char *buf, size_t size)
{
    metrics_text t = { buf, size, 0, false };
    double published = 0;

    if (size == 0)
        return -1;
    buf[0] = '\0';
    if (run->published)
        published = run->published_at > 0 ? run->published_at : run->started;
    else if (previous && !metrics_previous(previous, M_PUBLISH, &published))
        published = 0;
    /* skipped for the heartbeat: the publish it relies on is the last one.
     * published.json holds the whole seconds of the time a publishing run
     * wrote here, so the carried value is not earlier when it is that one,
     * and is kept: the more precise. */
    if (!run->published && run->heartbeat_publish > published)
        published = run->heartbeat_publish;

    metrics_gauge(&t, "vtpm_reporter_build_info", "The version of vtpm-reporter that wrote "
                  "this file.");
    metrics_add(&t, "vtpm_reporter_build_info{version=\"%s\"} 1\n", VTPM_VERSION);
    metrics_format_traits(&t, run, previous);
    metrics_value(&t, "vtpm_reporter_probe_concluded", "Whether the last run's probe "
                  "concluded (1), or could not conclude or did not run (0).", run->concluded, 0);
    metrics_value(&t, "vtpm_reporter_last_run_timestamp_seconds", "When the last run "
                  "started, in seconds since the epoch.", run->started, 3);
    metrics_value(&t, "vtpm_reporter_last_run_duration_seconds", "How long the last run "
                  "took, start delay and retries included.", run->duration, 3);
    metrics_value(&t, "vtpm_reporter_last_run_exit_status", "The exit status of the last "
                  "run: 0 changed, 3 unchanged, others see vtpm-reporter(8).",
                  run->exit_status, 0);
    metrics_value(&t, M_PUBLISH, "When a run last stored a concluded report in the "
                  "inventory, in seconds since the epoch (0: never).", published, 3);
    return t.overflow ? -1 : (int)t.len;
}

/*
 * The file @path replaces, when it is a regular file (not followed if a
 * symbolic link) of this user, of at most METRICS_MAX_SIZE bytes; NULL
 * otherwise. In a folder others may write (node_exporter's may be theirs),
 * a file they put there must not feed us a publish time that hides a host
 * that stopped publishing. A file that is not ours only loses the values
 * carried over.
 */
static char *
metrics_read_previous(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    char *text = NULL;
    ssize_t n;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        st.st_size < METRICS_MAX_SIZE) {
        text = vtpm_alloc_calloc(1, (size_t)st.st_size + 1);
        if ((n = read(fd, text, (size_t)st.st_size)) >= 0) {
            text[n] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    close(fd);
    return text;
}

int
vtpm_metrics_write(const char *path, const vtpm_metrics_run *run, char *err, size_t errlen)
{
    char *previous = metrics_read_previous(path);
    char text[8192];
    int len;

    len = vtpm_metrics_format(run, previous, text, sizeof(text));
    free(previous);
    if (len < 0) {
        vtpm_strfmt(err, errlen, "metrics for '%s' do not fit", path);
        return -1;
    }
    /* its temporary file's name starts with a dot: node_exporter skips it */
    if (vtpm_file_write_atomic(path, text, (size_t)len, 0644) < 0) {
        vtpm_strfmt(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
