/* SPDX-License-Identifier: Apache-2.0 */
/* Spawning external programs with posix_spawn: no shell, bounded in time and output. */
#include "command.h"


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"

/* Process-wide on purpose: only tests install a dry-run handler. */
static vtpm_command_dry_run_fn dry_run_fn;
static void *dry_run_opaque;

void
vtpm_command_set_dry_run(vtpm_command_dry_run_fn fn, void *opaque)
{
    dry_run_fn = fn;
    dry_run_opaque = opaque;
}

static bool
word_is_plain(const char *w)
{
    if (!*w)
        return false;
    for (; *w; w++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_./=,:+-@%", *w))
            return false;
    }
    return true;
}

char *
vtpm_command_format(char *buf, size_t size, const char *const *argv)
{
    size_t used = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; argv && argv[i]; i++) {
        char word[256];

        if (word_is_plain(argv[i]))
            vtpm_strfmt(word, sizeof(word), "%s", argv[i]);
        else
            vtpm_quote(word, sizeof(word), argv[i]);
        if (used >= size - 1)
            break;
        vtpm_strfmt(buf + used, size - used, "%s%s", i ? " " : "", word);
        used += strlen(buf + used);
    }
    return buf;
}

void
vtpm_command_result_clear(vtpm_command_result *res)
{
    if (!res)
        return;
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
}

void
vtpm_command_result_set_output(vtpm_command_result *res, const char *out,
                               const char *err)
{
    char *o = vtpm_alloc_strdup(out ? out : "");
    char *e = vtpm_alloc_strdup(err ? err : "");

    free(res->out);
    free(res->err);
    res->out = o;
    res->out_len = strlen(o);
    res->err = e;
    res->err_len = strlen(e);
}

/* One captured stream. */
typedef struct {
    int fd;
    char *buf;
    size_t len, cap, max;
    bool truncated;
} stream;

static void
stream_read(stream *s)
{
    char scratch[4096];

    for (;;) {
        char *dst = scratch;
        size_t room = sizeof(scratch);
        ssize_t n;

        if (s->len < s->max) {
            if (s->cap - s->len < 2) {
                size_t cap = s->cap ? s->cap * 2 : 4096;

                if (cap > s->max + 1)
                    cap = s->max + 1;
                s->buf = vtpm_alloc_realloc(s->buf, cap);
                s->cap = cap;
            }
            dst = s->buf + s->len;
            room = s->cap - s->len - 1;
            if (room > s->max - s->len)
                room = s->max - s->len;
        }
        n = read(s->fd, dst, room);
        if (n > 0) {
            if (dst == scratch)
                s->truncated = true;
            else
                s->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* End of file, or a read error: either way nothing more comes. */
        close(s->fd);
        s->fd = -1;
        return;
    }
}

static char *
stream_take(stream *s, size_t *len)
{
    char *b = s->buf ? s->buf : vtpm_alloc_calloc(1, 1);

    b[s->len] = '\0';
    *len = s->len;
    s->buf = NULL;
    return b;
}

static void
kill_group(pid_t pid, int sig)
{
    /* The child leads its own group; signal the child as well in case it
     * had not yet got there. */
    kill(-pid, sig);
    kill(pid, sig);
}

static void
reap_blocking(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/*
 * True when @pid has ended; it stays a zombie, so that its process group id
 * cannot be reused before we have killed what is left in the group.
 */
static bool
has_ended(pid_t pid)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return info.si_pid == pid;
}

/* Kills what is left in the group of the ended @pid, then reaps it. */
static void
reap_ended(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    reap_blocking(pid, status);
}

static int
spawn_setup(posix_spawnattr_t *attr)
{
    sigset_t none, all;

    if (posix_spawnattr_init(attr) != 0)
        return -1;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                   POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(attr, 0);
    posix_spawnattr_setsigmask(attr, &none);
    /* Undo what this process ignores (curl ignores SIGPIPE, for one). */
    posix_spawnattr_setsigdefault(attr, &all);
    return 0;
}

static void
spawn_close_others(posix_spawn_file_actions_t *fa)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(fa, 3);
#else
    (void)fa; /* our own descriptors are all O_CLOEXEC */
#endif
}

static void
describe_end(vtpm_command_result *res, const char *const *argv, double timeout)
{
    char cmd[160];

    vtpm_quote(cmd, sizeof(cmd), argv[0]);
    switch (res->outcome) {
    case VTPM_COMMAND_EXITED:
        if (res->exit_code != 0)
            vtpm_strfmt(res->error, sizeof(res->error), "%s exited with status %d",
                        cmd, res->exit_code);
        break;
    case VTPM_COMMAND_SIGNALED:
        vtpm_strfmt(res->error, sizeof(res->error), "%s was killed by signal %d (%s)",
                    cmd, res->signal, strsignal(res->signal));
        break;
    case VTPM_COMMAND_TIMED_OUT:
        vtpm_strfmt(res->error, sizeof(res->error), "%s timed out after %.1f s",
                    cmd, timeout);
        break;
    case VTPM_COMMAND_SPAWN_FAILED:
        break;
    }
}

static void
status_decode(vtpm_command_result *res, int status)
{
    if (WIFEXITED(status)) {
        res->outcome = VTPM_COMMAND_EXITED;
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->outcome = VTPM_COMMAND_SIGNALED;
        res->signal = WTERMSIG(status);
    }
}

/* A dry run: the test's handler plays the command. */
static int
command_dry_run(const char *const *argv, vtpm_command_result *res, double timeout)
{
    int rc;

    res->outcome = VTPM_COMMAND_EXITED;
    rc = dry_run_fn(argv, res, dry_run_opaque);
    if (!res->out || !res->err)
        vtpm_command_result_set_output(res, res->out, res->err);
    if (!res->error[0])
        describe_end(res, argv, timeout);
    return rc;
}

/* Starts @argv with its output on two pipes, whose read ends go to @streams.
 * -1 with errno set when it cannot. */
static int
command_spawn(const char *const *argv, pid_t *pid, stream streams[2])
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    int rc = -1, saved;

    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
        goto cleanup;
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto cleanup;
    fa_ok = true;
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, errp[1], 2) != 0)
        goto cleanup;
    spawn_close_others(&fa);
    if (spawn_setup(&attr) < 0)
        goto cleanup;
    attr_ok = true;
    rc = posix_spawn(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    if (rc != 0) {
        errno = rc;
        rc = -1;
        goto cleanup;
    }
    streams[0].fd = outp[0];
    streams[1].fd = errp[0];
    outp[0] = errp[0] = -1;
    for (int i = 0; i < 2; i++)
        fcntl(streams[i].fd, F_SETFL, fcntl(streams[i].fd, F_GETFL) | O_NONBLOCK);

cleanup:
    saved = errno;
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    errno = saved;
    return rc;
}

/* Reads the child's output until both pipes close. Returns true when the
 * deadline (if @timeout) passed first. *@exited says whether the child was
 * seen to end while a grandchild held its pipes open. */
static bool
command_read(stream streams[2], pid_t pid, double timeout, double deadline, bool *exited)
{
    while (streams[0].fd >= 0 || streams[1].fd >= 0) {
        struct pollfd pfd[2];
        nfds_t n = 0;
        int wait_ms = 100;
        int pr;

        if (timeout > 0) {
            double left = deadline - vtpm_clock_now();

            if (left <= 0)
                return true;
            if (left * 1000 < wait_ms)
                wait_ms = (int)(left * 1000) + 1;
        }
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd >= 0) {
                pfd[n].fd = streams[i].fd;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                n++;
            }
        }
        pr = poll(pfd, n, wait_ms);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr == 0) {
            /* Nothing to read for a while: a child that exited while a
             * grandchild keeps its pipes open must not hold us up. */
            if (!*exited && has_ended(pid))
                *exited = true;
            if (*exited)
                break;
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd >= 0)
                stream_read(&streams[i]);
        }
    }
    return false;
}

/* Waits for the child to end, until the deadline. Returns true when it
 * passed. */
static bool
command_wait(pid_t pid, double timeout, double deadline)
{
    for (;;) {
        double left = deadline - vtpm_clock_now();

        if (has_ended(pid))
            return false;
        if (timeout > 0 && left <= 0)
            return true;
        vtpm_clock_sleep(0.0005);
    }
}

/* Moves what the streams hold into @res. */
static void
command_take_output(vtpm_command_result *res, stream streams[2])
{
    for (int i = 0; i < 2; i++) {
        if (streams[i].fd >= 0)
            close(streams[i].fd);
    }
    res->out = stream_take(&streams[0], &res->out_len);
    res->err = stream_take(&streams[1], &res->err_len);
    res->out_truncated = streams[0].truncated;
    res->err_truncated = streams[1].truncated;
    free(streams[0].buf);
    free(streams[1].buf);
}

int
vtpm_command_run(const char *const *argv, const vtpm_command_opts *opts,
                 vtpm_command_result *res)
{
    double timeout = opts ? opts->timeout : 0;
    size_t max = opts && opts->output_max ? opts->output_max
                                          : VTPM_COMMAND_OUTPUT_MAX_DEFAULT;
    stream streams[2] = {{.fd = -1, .max = max}, {.fd = -1, .max = max}};
    double start = vtpm_clock_now(), deadline = start + timeout;
    bool exited = false, timed_out;
    pid_t pid = -1;
    int status = 0;
    char cmd[160];

    memset(res, 0, sizeof(*res));
    if (!argv || !argv[0]) {
        res->outcome = VTPM_COMMAND_SPAWN_FAILED;
        vtpm_strfmt(res->error, sizeof(res->error), "empty command");
        return -1;
    }
    if (dry_run_fn)
        return command_dry_run(argv, res, timeout);
    if (command_spawn(argv, &pid, streams) < 0) {
        vtpm_strfmt(res->error, sizeof(res->error), "cannot run %s: %s",
                    vtpm_quote(cmd, sizeof(cmd), argv[0]), strerror(errno));
        res->outcome = VTPM_COMMAND_SPAWN_FAILED;
        res->out = vtpm_alloc_calloc(1, 1);
        res->err = vtpm_alloc_calloc(1, 1);
        return -1;
    }

    timed_out = command_read(streams, pid, timeout, deadline, &exited);
    if (!exited && !timed_out)
        timed_out = command_wait(pid, timeout, deadline);
    if (timed_out) {
        kill_group(pid, SIGKILL);
        reap_blocking(pid, &status);
        res->outcome = VTPM_COMMAND_TIMED_OUT;
    } else {
        /* The group may hold leftovers (a daemonised grandchild). */
        reap_ended(pid, &status);
        status_decode(res, status);
    }
    command_take_output(res, streams);
    res->elapsed = vtpm_clock_now() - start;
    describe_end(res, argv, timeout);
    return res->outcome == VTPM_COMMAND_EXITED && res->exit_code == 0 ? 0 : 1;
}

struct vtpm_command_child {
    pid_t pid;
    bool reaped;
};

vtpm_command_child *
vtpm_command_child_start(const char *const *argv, const char *log_path,
                         char *err, size_t errlen)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    vtpm_command_child *child;
    char cmd[160];
    int rc;

    if (!argv || !argv[0]) {
        vtpm_strfmt(err, errlen, "empty command");
        return NULL;
    }
    vtpm_quote(cmd, sizeof(cmd), argv[0]);
    if (dry_run_fn) {
        vtpm_strfmt(err, errlen, "cannot start %s in dry-run mode", cmd);
        return NULL;
    }
    child = vtpm_alloc_calloc(1, sizeof(*child));
    /* Both fail only for want of memory. */
    if (posix_spawn_file_actions_init(&fa) != 0)
        vtpm_alloc_abort();
    if (spawn_setup(&attr) < 0)
        vtpm_alloc_abort();
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path ? log_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    spawn_close_others(&fa);
    rc = posix_spawn(&child->pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        vtpm_strfmt(err, errlen, "cannot run %s: %s", cmd, strerror(rc));
        free(child);
        return NULL;
    }
    return child;
}

pid_t
vtpm_command_child_pid(const vtpm_command_child *child)
{
    return child->pid;
}

static void
child_outcome(int status, vtpm_command_outcome *outcome, int *code)
{
    vtpm_command_result r = {0};

    status_decode(&r, status);
    if (outcome)
        *outcome = r.outcome;
    if (code)
        *code = r.outcome == VTPM_COMMAND_EXITED ? r.exit_code : r.signal;
}

bool
vtpm_command_child_ended(vtpm_command_child *child, vtpm_command_outcome *outcome,
                         int *code)
{
    int status = 0;

    if (child->reaped)
        return true;
    if (!has_ended(child->pid))
        return false;
    reap_ended(child->pid, &status);
    child->reaped = true;
    child_outcome(status, outcome, code);
    return true;
}

bool
vtpm_command_child_wait(vtpm_command_child *child, double timeout,
                        vtpm_command_outcome *outcome, int *code)
{
    double deadline = vtpm_clock_now() + timeout;
    double nap = 0.0002;

    for (;;) {
        if (vtpm_command_child_ended(child, outcome, code))
            return true;
        if (vtpm_clock_now() >= deadline)
            return false;
        vtpm_clock_sleep(nap);
        if (nap < 0.01)
            nap *= 2;
    }
}

void
vtpm_command_child_stop(vtpm_command_child *child, double grace)
{
    int status;

    if (!child)
        return;
    if (!child->reaped) {
        kill_group(child->pid, SIGTERM);
        if (!vtpm_command_child_wait(child, grace, NULL, NULL)) {
            kill_group(child->pid, SIGKILL);
            reap_blocking(child->pid, &status);
        }
    }
    free(child);
}
