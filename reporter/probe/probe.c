/* SPDX-License-Identifier: Apache-2.0 */
/* All probes of a host, in one call. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "log.h"
#include "probe-priv.h"
#include "probe_deep.h"
#include "probe_swtpm.h"
#include "probe_system.h"
#include "util.h"
#include "virt.h"

static bool
child_write_all(int fd, const void *buf, size_t size)
{
    const char *p = buf;

    while (size > 0) {
        ssize_t n = write(fd, p, size);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Reads what the child sends until it is all there, EOF, or the deadline. */
static vtpm_probe_child_status
child_read(int fd, void *out, size_t size, double deadline, size_t *got,
           char *err, size_t errlen)
{
    while (*got < size) {
        double left = deadline - vtpm_clock_now();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        int rc;

        if (left <= 0)
            return VTPM_PROBE_CHILD_TIMEOUT;
        /* rounded up: poll() must not wake just before the deadline */
        rc = poll(&p, 1, left > 60 ? 60000 : (int)(left * 1e3) + 1);
        if (rc < 0 && errno != EINTR) {
            vtpm_strfmt(err, errlen, "cannot wait for child process: %s", strerror(errno));
            return VTPM_PROBE_CHILD_FAILED;
        }
        if (rc <= 0)
            continue;
        n = read(fd, (char *)out + *got, size - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vtpm_strfmt(err, errlen, "cannot read from child process: %s", strerror(errno));
            return VTPM_PROBE_CHILD_FAILED;
        }
        if (n == 0)
            break; /* the child ended: its status says how */
        *got += (size_t)n;
    }
    return VTPM_PROBE_CHILD_OK;
}

vtpm_probe_child_status
vtpm_probe_child_run(vtpm_probe_child_fn fn, const void *arg, void *out, size_t size,
                     double timeout, char *err, size_t errlen)
{
    double deadline = vtpm_clock_now() + timeout;
    pid_t parent = getpid(), pid;
    vtpm_probe_child_status rc;
    size_t got = 0;
    int fds[2], status = 0;
    char how[96];

    if (errlen > 0)
        err[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) < 0) {
        vtpm_strfmt(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return VTPM_PROBE_CHILD_FAILED;
    }
    /* The child never flushes stdio (it leaves with _exit), but what it logs
     * must not drag out what the parent had buffered. */
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        vtpm_strfmt(err, errlen, "cannot start a child process: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return VTPM_PROBE_CHILD_FAILED;
    }
    if (pid == 0) {
        close(fds[0]);
        /* Never outlive the reporter: an orphan stuck in libvirt would hold
         * the lock file it inherited, and block every later run. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(1);
        if (fn(arg, out) < 0 || !child_write_all(fds[1], out, size))
            _exit(1);
        /* _exit: no atexit handlers, no stdio flush, no sanitizer leak check
         * of what the parent owns */
        _exit(0);
    }
    close(fds[1]);
    rc = child_read(fds[0], out, size, deadline, &got, err, errlen);
    close(fds[0]);
    if (rc != VTPM_PROBE_CHILD_OK)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc == VTPM_PROBE_CHILD_TIMEOUT)
        vtpm_strfmt(err, errlen, "child process killed after %g s", timeout);
    if (rc != VTPM_PROBE_CHILD_OK || got == size)
        return rc;

    if (WIFSIGNALED(status))
        vtpm_strfmt(how, sizeof(how), "died of signal %d (%s)", WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
    else
        vtpm_strfmt(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    if (got == 0)
        vtpm_strfmt(err, errlen, "child process %s before answering", how);
    else
        vtpm_strfmt(err, errlen, "child process %s after %zu of %zu bytes", how, got, size);
    return VTPM_PROBE_CHILD_FAILED;
}

static int
probe_libvirt_in_child(const void *conf, void *out)
{
    return vtpm_virt_probe(conf, out);
}

/*
 * libvirt's client has no per-call timeout unless the caller runs an event
 * loop for keepalive, and even then connecting is not bounded: a libvirtd
 * that accepts the connection but never answers holds the caller forever
 * (and every timer run after it piles up). So the probe runs in a child
 * process that is killed at the deadline; vtpm_libvirt_facts is plain data
 * and comes back through a pipe.
 */
static void
probe_libvirt_bounded(const vtpm_conf *conf, vtpm_libvirt_facts *out)
{
    const char *uri = conf->uri ? conf->uri : "qemu:///system";
    double timeout = conf->libvirt_timeout > 0 ? conf->libvirt_timeout
                                               : VTPM_CONF_DEFAULT_LIBVIRT_TIMEOUT;
    vtpm_libvirt_facts answer;
    char err[200];

    switch (vtpm_probe_child_run(probe_libvirt_in_child, conf, &answer, sizeof(answer),
                                 timeout, err, sizeof(err))) {
    case VTPM_PROBE_CHILD_OK:
        *out = answer;
        return;
    case VTPM_PROBE_CHILD_TIMEOUT:
        vtpm_virt_facts_init(conf, out);
        vtpm_strfmt(out->error, sizeof(out->error), "libvirt at '%s' did not answer within %g s",
                    uri, timeout);
        return;
    case VTPM_PROBE_CHILD_FAILED:
        vtpm_virt_facts_init(conf, out);
        vtpm_strfmt(out->error, sizeof(out->error), "cannot probe libvirt at '%s': %s", uri,
                    err);
        return;
    }
}

void
vtpm_probe_run(const vtpm_conf *conf, bool deep, vtpm_facts *facts)
{
    double t;

    memset(facts, 0, sizeof(*facts));
    if (conf->host && *conf->host) {
        vtpm_strfmt(facts->host, sizeof(facts->host), "%s", conf->host);
    } else if (gethostname(facts->host, sizeof(facts->host) - 1) < 0) {
        facts->host[0] = '\0';
    }
    facts->host[sizeof(facts->host) - 1] = '\0';

    t = vtpm_clock_now();
    probe_libvirt_bounded(conf, &facts->libvirt);
    VTPM_DEBUG("libvirt probe: %s in %.1f ms%s%s", vtpm_probe_status_name(facts->libvirt.status),
               (vtpm_clock_now() - t) * 1e3, facts->libvirt.error[0] ? ": " : "",
               facts->libvirt.error);
    t = vtpm_clock_now();
    vtpm_swtpm_probe(conf, &facts->swtpm);
    VTPM_DEBUG("swtpm probe: %s%s in %.1f ms%s%s", vtpm_probe_status_name(facts->swtpm.status),
               facts->swtpm.from_cache ? " (cached)" : "", (vtpm_clock_now() - t) * 1e3,
               facts->swtpm.error[0] ? ": " : "", facts->swtpm.error);
    t = vtpm_clock_now();
    vtpm_system_probe(conf, &facts->system);
    VTPM_DEBUG("system probe: %s in %.1f ms", vtpm_probe_status_name(facts->system.status),
               (vtpm_clock_now() - t) * 1e3);
    if (deep) {
        t = vtpm_clock_now();
        vtpm_deep_probe(conf, &facts->swtpm, &facts->deep);
        VTPM_DEBUG("deep probe: %s in %.1f ms", vtpm_probe_status_name(facts->deep.status),
                   (vtpm_clock_now() - t) * 1e3);
    }
}
