/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-reporter run` after decide(): lock, start delay, publish with bounded retries. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "run.h"
#include "run_state.h"
#include "util.h"

#define RUN_BACKOFF_INITIAL 1.0
#define RUN_BACKOFF_MAX 30.0
/* The longest a PostgreSQL publish attempt takes with the publisher's libpq
 * settings: connect_timeout=10, then tcp_user_timeout=30000 on a lost answer. */
#define RUN_PG_ATTEMPT_MAX 40.0
/* The requests of one Placement publish (token, provider, traits, ...), each
 * bounded by its timeouts, more on a concurrent update. */
#define RUN_PLACEMENT_REQUESTS 4
/* How often a run waiting for the lock tries again. */
#define RUN_LOCK_POLL 1.0

static const char *const status_names[] = {
    [VTPM_PUBLISH_CHANGED] = "changed",
    [VTPM_PUBLISH_UNCHANGED] = "unchanged",
    [VTPM_PUBLISH_INCONCLUSIVE] = "inconclusive",
    [VTPM_PUBLISH_UNREACHABLE] = "unreachable",
    [VTPM_PUBLISH_REFUSED] = "refused",
    [VTPM_PUBLISH_CONFIG] = "configuration error",
};

int
vtpm_run_exit_code(vtpm_publish_status status)
{
    switch (status) {
    case VTPM_PUBLISH_CHANGED: return VTPM_EXIT_OK;
    case VTPM_PUBLISH_UNCHANGED: return VTPM_EXIT_UNCHANGED;
    case VTPM_PUBLISH_INCONCLUSIVE: return VTPM_EXIT_INCONCLUSIVE;
    case VTPM_PUBLISH_UNREACHABLE: return VTPM_EXIT_UNREACHABLE;
    case VTPM_PUBLISH_REFUSED: return VTPM_EXIT_REFUSED;
    case VTPM_PUBLISH_CONFIG: return VTPM_EXIT_USAGE;
    }
    return VTPM_EXIT_FAILURE;
}

/* A uniform random number in [0, 1): hosts must not all pick the same delay. */
static double
random_unit(void)
{
    unsigned int r;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
    return (double)r / 4294967296.0;
}

/*
 * Opens (creating it) the lock file @path. Its folder is opened without
 * following a symbolic link and must be owned by this user or root and
 * writable by nobody else; the file must be a regular file of this user.
 * Otherwise whoever can write there could hold the lock and stop every run,
 * or have the truncation below hit another file. Returns a descriptor, or -1
 * with the reason in @err.
 */
static int
lock_open(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    struct stat st;
    int dfd, fd;

    if (!slash || !slash[1]) {
        vtpm_strfmt(err, errlen, "lock file '%s' is not an absolute file path", path);
        return -1;
    }
    vtpm_strfmt(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, &st) < 0) {
        vtpm_strfmt(err, errlen, "cannot open lock folder '%s': %s", dir,
                    errno == ELOOP || errno == ENOTDIR ? "not a folder (a symbolic link?)"
                                                       : strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        vtpm_strfmt(err, errlen, "refusing lock folder '%s': others can write it", dir);
        close(dfd);
        return -1;
    }
    fd = openat(dfd, slash + 1, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(dfd);
    if (fd < 0 || fstat(fd, &st) < 0) {
        vtpm_strfmt(err, errlen, "cannot open lock file '%s': %s", path,
                    errno == ELOOP ? "a symbolic link" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        vtpm_strfmt(err, errlen, "refusing lock file '%s': not a regular file of this user",
                    path);
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * How long a run can hold the lock: its start delay, every attempt at its
 * longest and the pauses between them. Another run waits that long for it.
 */
double
vtpm_run_lock_wait_bound(const vtpm_conf *conf, const vtpm_run_options *opts)
{
    double backoff = opts->backoff_initial > 0 ? opts->backoff_initial : RUN_BACKOFF_INITIAL;
    double backoff_max = opts->backoff_max > 0 ? opts->backoff_max : RUN_BACKOFF_MAX;
    double attempt = 0, bound = conf->start_delay_max;

    if (!conf->inventory || (conf->inventory & VTPM_INVENTORY_POSTGRES))
        attempt += RUN_PG_ATTEMPT_MAX;
    if (conf->inventory & VTPM_INVENTORY_PLACEMENT)
        attempt += (conf->placement.connect_timeout + conf->placement.timeout) *
                   (RUN_PLACEMENT_REQUESTS + conf->placement.retries);
    for (unsigned int i = 0; i <= conf->retries; i++) {
        bound += attempt;
        if (i < conf->retries) {
            bound += backoff;
            backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
        }
    }
    return bound;
}

/*
 * Takes the run lock, waiting up to @wait seconds (polled with @pause_fn)
 * for a run that holds it. Returns the open descriptor (closing it releases
 * the lock), -1 with *@busy set when the other run still holds it, or -1 on
 * error.
 */
static int
lock_acquire(const char *path, double wait, void (*pause_fn)(double), bool *busy,
             char *err, size_t errlen)
{
    char pid[32];
    double waited = 0;
    int fd;

    *busy = false;
    fd = lock_open(path, err, errlen);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            vtpm_strfmt(err, errlen, "cannot lock '%s': %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (waited >= wait) {
            *busy = true;
            close(fd);
            return -1;
        }
        if (waited == 0)
            VTPM_INFO("another run holds lock '%s': waiting up to %.0f s", path, wait);
        pause_fn(RUN_LOCK_POLL);
        waited += RUN_LOCK_POLL;
    }
    /* The holder's pid, for whoever wonders who holds it. */
    vtpm_strfmt(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, strlen(pid)) < 0)
        VTPM_DEBUG("cannot write pid to '%s': %s", path, strerror(errno));
    return fd;
}

/* Publishes through @pub, retrying an unreachable inventory with a growing
 * pause. Returns the number of attempts allowed. */
static unsigned int
run_publish(const vtpm_conf *conf, const vtpm_report *report, const vtpm_run_options *opts,
            const vtpm_publisher *pub, vtpm_publish_result *out)
{
    void (*pause_fn)(double) = opts->sleep_fn ? opts->sleep_fn : vtpm_clock_sleep;
    double backoff = opts->backoff_initial > 0 ? opts->backoff_initial : RUN_BACKOFF_INITIAL;
    double backoff_max = opts->backoff_max > 0 ? opts->backoff_max : RUN_BACKOFF_MAX;
    unsigned int attempts = conf->retries + 1, attempt;

    if (!opts->no_delay && conf->start_delay_max > 0) {
        double delay = random_unit() * conf->start_delay_max;

        VTPM_DEBUG("waiting %.1f s before publishing", delay);
        pause_fn(delay);
    }
    for (attempt = 1;; attempt++) {
        vtpm_publisher_publish(pub, report, out);
        if (out->status != VTPM_PUBLISH_UNREACHABLE || attempt >= attempts)
            break;
        VTPM_WARN("%s; retrying in %.1f s (attempt %u of %u)", out->message, backoff,
                  attempt, attempts);
        pause_fn(backoff);
        backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
    }
    return attempts;
}

/* Logs the outcome of a run of @attempts attempts at most. */
static void
run_log(const vtpm_report *report, const vtpm_publish_result *out, unsigned int attempts)
{
    switch (out->status) {
    case VTPM_PUBLISH_CHANGED:
    case VTPM_PUBLISH_UNCHANGED:
        VTPM_INFO("%s", out->message);
        break;
    case VTPM_PUBLISH_INCONCLUSIVE:
        VTPM_WARN("probe inconclusive (%s): report recorded, no trait changed: %s",
                  report->inconclusive_reason, out->message);
        break;
    case VTPM_PUBLISH_UNREACHABLE:
        VTPM_ERROR("%s (gave up after %u attempt%s)", out->message, attempts,
                   attempts == 1 ? "" : "s");
        break;
    default:
        VTPM_ERROR("%s: %s", status_names[out->status], out->message);
        break;
    }
}

/* A run that publishes nothing: @status with @message (already logged). */
static int
run_stop(vtpm_publish_result *out, vtpm_publish_status status, const char *message,
         vtpm_publisher *own)
{
    out->status = status;
    vtpm_strfmt(out->message, sizeof(out->message), "%s", message);
    VTPM_ERROR("%s", out->message);
    vtpm_publisher_close(own);
    return vtpm_run_exit_code(status);
}

int
vtpm_run(const vtpm_conf *conf, const vtpm_report *report,
         const vtpm_run_options *opts, vtpm_publish_result *out)
{
    static const vtpm_run_options defaults = { 0 };
    vtpm_publish_result local;
    vtpm_publisher own = { 0 };
    const vtpm_publisher *pub;
    const char *lock_path;
    unsigned int attempts;
    vtpm_run_state st;
    char err[512];
    double wait;
    bool busy;
    int fd, skip;

    if (!opts)
        opts = &defaults;
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    out->generation = -1;
    lock_path = conf->lock_file && conf->lock_file[0] ? conf->lock_file : VTPM_CONF_DEFAULT_LOCK_FILE;

    pub = opts->publisher;
    if (!pub) {
        if (vtpm_publisher_open(&own, conf, err, sizeof(err)) < 0)
            return run_stop(out, VTPM_PUBLISH_CONFIG, err, &own);
        pub = &own;
    }
    wait = vtpm_run_lock_wait_bound(conf, opts);
    fd = lock_acquire(lock_path, wait, opts->sleep_fn ? opts->sleep_fn : vtpm_clock_sleep,
                      &busy, err, sizeof(err));
    if (fd < 0 && busy) {
        /* longer than a whole run takes: the other one is stuck */
        vtpm_strfmt(out->message, sizeof(out->message),
                    "another run has held lock '%s' for more than %.0f s: not publishing",
                    lock_path, wait);
        VTPM_WARN("%s", out->message);
        vtpm_publisher_close(&own);
        return VTPM_EXIT_LOCKED;
    }
    if (fd < 0)
        return run_stop(out, VTPM_PUBLISH_CONFIG, err, &own);
    skip = vtpm_run_state_begin(&st, conf, report, opts->ignore_heartbeat, time(NULL), out, err,
                                sizeof(err));
    if (skip != 0) {
        close(fd);
        if (skip < 0)
            return run_stop(out, VTPM_PUBLISH_CONFIG, err, &own);
        vtpm_run_state_clear(&st);
        vtpm_publisher_close(&own);
        VTPM_INFO("%s", out->message);
        return vtpm_run_exit_code(out->status);
    }

    attempts = run_publish(conf, report, opts, pub, out);
    out->published_at = vtpm_clock_wall();
    vtpm_run_state_end(&st, report, out, (time_t)out->published_at);
    close(fd);
    vtpm_publisher_close(&own);
    run_log(report, out, attempts);
    return vtpm_run_exit_code(out->status);
}
