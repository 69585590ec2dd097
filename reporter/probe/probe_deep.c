/* SPDX-License-Identifier: Apache-2.0 */
/* The deep probe: a throwaway swtpm in a private folder, a startup and a GetRandom. */
#include "probe_deep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "log.h"
#include "util.h"

/* TPM 1.2 and TPM 2.0 wire constants (TCG specifications). */
#define TPM12_TAG_RQU_COMMAND 0x00C1
#define TPM12_ORD_STARTUP 0x00000099
#define TPM12_ORD_GET_RANDOM 0x00000046
#define TPM12_ST_CLEAR 0x0001
#define TPM2_ST_NO_SESSIONS 0x8001
#define TPM2_CC_STARTUP 0x00000144
#define TPM2_CC_GET_RANDOM 0x0000017B
#define TPM2_SU_CLEAR 0x0000
/* swtpm's control channel: CMD_SHUTDOWN. */
#define SWTPM_CTRL_SHUTDOWN 0x00000003

#define RANDOM_BYTES 16

typedef struct {
    const vtpm_conf *conf;
    bool tpm2;
    double timeout;
    char dir[256];
    char server[300], ctrl[300], log[300];
    vtpm_command_child *child;
    char *err;
    size_t errlen;
} deep_run;

static void
put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
get_be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The last non-empty line swtpm printed, for messages. */
static void
log_tail(const deep_run *r, char *buf, size_t size)
{
    char data[2048];
    ssize_t n;
    int fd;

    buf[0] = '\0';
    fd = open(r->log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (lseek(fd, 0, SEEK_END) > (off_t)sizeof(data) - 1)
        lseek(fd, -(off_t)(sizeof(data) - 1), SEEK_END);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, data, sizeof(data) - 1);
    close(fd);
    if (n <= 0)
        return;
    data[n] = '\0';
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' '))
        data[--n] = '\0';
    if (n == 0)
        return;
    {
        char *line = strrchr(data, '\n');

        vtpm_quote(buf, size, line ? line + 1 : data);
    }
}

static void
fail(deep_run *r, const char *step, const char *what)
{
    char tail[160];

    log_tail(r, tail, sizeof(tail));
    if (tail[0])
        vtpm_strfmt(r->err, r->errlen, "%s: %s (swtpm said %s)", step, what, tail);
    else
        vtpm_strfmt(r->err, r->errlen, "%s: %s", step, what);
}

/* The child's end, as words, when it has ended; NULL while it runs. */
static const char *
child_end(deep_run *r, char *buf, size_t size)
{
    vtpm_command_outcome outcome;
    int code;

    if (!vtpm_command_child_ended(r->child, &outcome, &code))
        return NULL;
    if (outcome == VTPM_COMMAND_EXITED)
        vtpm_strfmt(buf, size, "swtpm exited with status %d", code);
    else
        vtpm_strfmt(buf, size, "swtpm was killed by signal %d (%s)", code, strsignal(code));
    return buf;
}

static int
unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Connects to @path once swtpm listens there, while it runs and in time. */
static int
connect_when_ready(deep_run *r, const char *path, const char *what)
{
    double deadline = vtpm_clock_now() + r->timeout;
    double nap = 0.0005;
    char end[128];

    for (;;) {
        int fd = unix_connect(path);
        int e = errno;

        if (fd >= 0)
            return fd;
        if (child_end(r, end, sizeof(end))) {
            vtpm_strfmt(end + strlen(end), sizeof(end) - strlen(end),
                        " before opening its %s", what);
            fail(r, "start", end);
            return -1;
        }
        if (vtpm_clock_now() >= deadline) {
            char msg[160];

            vtpm_strfmt(msg, sizeof(msg), "no %s socket after %.1f s: %s", what,
                        r->timeout, strerror(e));
            fail(r, "start", msg);
            return -1;
        }
        vtpm_clock_sleep(nap);
        if (nap < 0.01)
            nap *= 2;
    }
}

static int
io_wait(int fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        double left = deadline - vtpm_clock_now();
        int rc;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Sends (@sending) or receives exactly @len bytes at @buf before @deadline. */
static int
io_exact(int fd, unsigned char *buf, size_t len, double deadline, bool sending)
{
    while (len > 0) {
        ssize_t n;

        if (io_wait(fd, sending ? POLLOUT : POLLIN, deadline) < 0)
            return -1;
        n = sending ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
        if (n == 0 && !sending) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
write_all(int fd, const unsigned char *buf, size_t len, double deadline)
{
    /* send() only reads the bytes: the cast drops const for io_exact() alone */
    return io_exact(fd, (unsigned char *)(uintptr_t)buf, len, deadline, true);
}

static int
read_exact(int fd, unsigned char *buf, size_t len, double deadline)
{
    return io_exact(fd, buf, len, deadline, false);
}

/*
 * Sends one command and reads its response into @resp (@size bytes).
 * Returns the response length, or -1 after fail().
 */
static ssize_t
transact(deep_run *r, int fd, const char *step, const unsigned char *cmd, size_t len,
         unsigned char *resp, size_t size)
{
    double deadline = vtpm_clock_now() + r->timeout;
    char msg[160], end[128];
    uint32_t total;

    if (write_all(fd, cmd, len, deadline) < 0 || read_exact(fd, resp, 10, deadline) < 0) {
        if (errno == ETIMEDOUT)
            vtpm_strfmt(msg, sizeof(msg), "no answer after %.1f s", r->timeout);
        else if (child_end(r, end, sizeof(end)))
            vtpm_strfmt(msg, sizeof(msg), "%s", end);
        else
            vtpm_strfmt(msg, sizeof(msg), "%s", strerror(errno));
        fail(r, step, msg);
        return -1;
    }
    total = get_be32(resp + 2);
    if (total < 10 || total > size) {
        vtpm_strfmt(msg, sizeof(msg), "malformed response of %u bytes", total);
        fail(r, step, msg);
        return -1;
    }
    if (read_exact(fd, resp + 10, total - 10, deadline) < 0) {
        vtpm_strfmt(msg, sizeof(msg), "short response: %s", strerror(errno));
        fail(r, step, msg);
        return -1;
    }
    return (ssize_t)total;
}

static int
speak_tpm(deep_run *r, int fd)
{
    unsigned char cmd[14], resp[256];
    char msg[128];
    ssize_t n;
    uint32_t rc;

    /* Startup(CLEAR): swtpm runs with not-need-init, so we do what a
     * guest's firmware would. */
    if (r->tpm2) {
        put_be16(cmd, TPM2_ST_NO_SESSIONS);
        put_be32(cmd + 2, 12);
        put_be32(cmd + 6, TPM2_CC_STARTUP);
        put_be16(cmd + 10, TPM2_SU_CLEAR);
    } else {
        put_be16(cmd, TPM12_TAG_RQU_COMMAND);
        put_be32(cmd + 2, 12);
        put_be32(cmd + 6, TPM12_ORD_STARTUP);
        put_be16(cmd + 10, TPM12_ST_CLEAR);
    }
    n = transact(r, fd, r->tpm2 ? "TPM2_Startup" : "TPM_Startup", cmd, 12, resp,
                 sizeof(resp));
    if (n < 0)
        return -1;
    rc = get_be32(resp + 6);
    if (rc != 0) {
        vtpm_strfmt(msg, sizeof(msg), "response code 0x%x", rc);
        fail(r, r->tpm2 ? "TPM2_Startup" : "TPM_Startup", msg);
        return -1;
    }

    if (r->tpm2) {
        put_be16(cmd, TPM2_ST_NO_SESSIONS);
        put_be32(cmd + 2, 12);
        put_be32(cmd + 6, TPM2_CC_GET_RANDOM);
        put_be16(cmd + 10, RANDOM_BYTES);
        n = transact(r, fd, "TPM2_GetRandom", cmd, 12, resp, sizeof(resp));
    } else {
        put_be16(cmd, TPM12_TAG_RQU_COMMAND);
        put_be32(cmd + 2, 14);
        put_be32(cmd + 6, TPM12_ORD_GET_RANDOM);
        put_be32(cmd + 10, RANDOM_BYTES);
        n = transact(r, fd, "TPM_GetRandom", cmd, 14, resp, sizeof(resp));
    }
    if (n < 0)
        return -1;
    rc = get_be32(resp + 6);
    if (rc != 0) {
        vtpm_strfmt(msg, sizeof(msg), "response code 0x%x", rc);
        fail(r, r->tpm2 ? "TPM2_GetRandom" : "TPM_GetRandom", msg);
        return -1;
    }
    {
        /* TPM 2.0: TPM2B (u16 size); TPM 1.2: u32 size; then the bytes. */
        size_t hdr = r->tpm2 ? 2 : 4;
        size_t got = (size_t)n < 10 + hdr ? 0
                   : r->tpm2 ? get_be16(resp + 10) : get_be32(resp + 10);

        if (got == 0 || got > RANDOM_BYTES || 10 + hdr + got != (size_t)n) {
            vtpm_strfmt(msg, sizeof(msg), "malformed answer (%zd bytes)", n);
            fail(r, r->tpm2 ? "TPM2_GetRandom" : "TPM_GetRandom", msg);
            return -1;
        }
    }
    return 0;
}

/* Asks swtpm to shut down through its control channel; true if it ended. */
static bool
shutdown_swtpm(deep_run *r)
{
    unsigned char cmd[4], resp[4];
    double deadline = vtpm_clock_now() + r->timeout;
    int fd = unix_connect(r->ctrl);
    bool ok;

    if (fd < 0)
        return false;
    put_be32(cmd, SWTPM_CTRL_SHUTDOWN);
    ok = write_all(fd, cmd, sizeof(cmd), deadline) == 0 &&
         read_exact(fd, resp, sizeof(resp), deadline) == 0 && get_be32(resp) == 0;
    close(fd);
    return ok && vtpm_command_child_wait(r->child, r->timeout, NULL, NULL);
}

static void
dir_remove(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d) {
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) < 0)
                VTPM_DEBUG("cannot remove '%s/%s': %s", path, e->d_name, strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(path) < 0 && errno != ENOENT)
        VTPM_WARN("cannot remove deep-probe folder '%s': %s", path, strerror(errno));
}

/* Whom swtpm should run as: conf->swtpm_user when we are root and it exists. */
static bool
runas_user(const vtpm_conf *conf, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (geteuid() != 0 || !conf->swtpm_user || !*conf->swtpm_user)
        return false;
    if (getpwnam_r(conf->swtpm_user, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    if (conf->swtpm_group && *conf->swtpm_group) {
        struct group gr, *gres = NULL;

        if (getgrnam_r(conf->swtpm_group, &gr, buf, sizeof(buf), &gres) == 0 && gres)
            *gid = gr.gr_gid;
    }
    return true;
}

/* One version: 0 when swtpm answered both commands, -1 with r->err set, -2
 * when the test could not be set up on this host. */
static int
deep_run_version(const vtpm_conf *conf, const char *swtpm, bool tpm2, char *err,
                 size_t errlen)
{
    deep_run r = {.conf = conf, .tpm2 = tpm2, .err = err, .errlen = errlen};
    const char *tmp = getenv("TMPDIR");
    char state[300], server[320], ctrl[320], cerr[200];
    const char *argv[16];
    bool as_user;
    uid_t uid = 0;
    gid_t gid = 0;
    int argc = 0, rc = -1, fd = -1;

    r.timeout = conf->swtpm_timeout > 0 ? conf->swtpm_timeout : 5;
    if (!tmp || !*tmp || strlen(tmp) > 64)
        tmp = "/tmp";
    vtpm_strfmt(r.dir, sizeof(r.dir), "%s/vtpm-deep-XXXXXX", tmp);
    if (!mkdtemp(r.dir)) {
        vtpm_strfmt(err, errlen, "cannot create a temporary folder in '%s': %s", tmp,
                    strerror(errno));
        return -2;
    }
    as_user = runas_user(conf, &uid, &gid);
    if (as_user && chown(r.dir, uid, gid) < 0) {
        vtpm_strfmt(err, errlen, "cannot give '%s' to user '%s': %s", r.dir,
                    conf->swtpm_user, strerror(errno));
        dir_remove(r.dir);
        return -2;
    }
    vtpm_strfmt(r.server, sizeof(r.server), "%s/server.sock", r.dir);
    vtpm_strfmt(r.ctrl, sizeof(r.ctrl), "%s/ctrl.sock", r.dir);
    vtpm_strfmt(r.log, sizeof(r.log), "%s/swtpm.log", r.dir);
    vtpm_strfmt(state, sizeof(state), "dir=%s", r.dir);
    vtpm_strfmt(server, sizeof(server), "type=unixio,path=%s", r.server);
    vtpm_strfmt(ctrl, sizeof(ctrl), "type=unixio,path=%s", r.ctrl);

    argv[argc++] = swtpm;
    argv[argc++] = "socket";
    if (tpm2)
        argv[argc++] = "--tpm2";
    argv[argc++] = "--tpmstate";
    argv[argc++] = state;
    argv[argc++] = "--server";
    argv[argc++] = server;
    argv[argc++] = "--ctrl";
    argv[argc++] = ctrl;
    argv[argc++] = "--flags";
    argv[argc++] = "not-need-init";
    if (as_user) {
        argv[argc++] = "--runas";
        argv[argc++] = conf->swtpm_user;
    }
    argv[argc] = NULL;

    r.child = vtpm_command_child_start(argv, r.log, cerr, sizeof(cerr));
    if (!r.child) {
        fail(&r, "start", cerr);
        goto cleanup;
    }
    fd = connect_when_ready(&r, r.server, "server");
    if (fd < 0)
        goto cleanup;
    if (speak_tpm(&r, fd) < 0)
        goto cleanup;
    close(fd);
    fd = -1;
    if (!shutdown_swtpm(&r))
        VTPM_DEBUG("swtpm did not shut down through its control channel; stopping it");
    rc = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    vtpm_command_child_stop(r.child, 1.0);
    dir_remove(r.dir);
    return rc;
}

int
vtpm_deep_probe(const vtpm_conf *conf, const vtpm_swtpm_facts *swtpm, vtpm_deep_facts *out)
{
    bool no_caps = swtpm->swtpm.found && !swtpm->tpm_1_2 && !swtpm->tpm_2_0;
    bool failed = false, unsure = false, ran = false;

    out->status = VTPM_PROBE_NOT_RUN;
    out->tpm_1_2 = out->tpm_2_0 = VTPM_PROBE_NOT_RUN;
    out->error_1_2[0] = out->error_2_0[0] = '\0';
    if (!swtpm->swtpm.found) {
        out->status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->error_2_0, sizeof(out->error_2_0), "swtpm not found");
        return 0;
    }
    /* Without capabilities we cannot know what swtpm claims: try 2.0,
     * which every swtpm that runs at all supports. */
    if (swtpm->tpm_2_0 || no_caps) {
        int rc = deep_run_version(conf, swtpm->swtpm.path, true, out->error_2_0,
                                  sizeof(out->error_2_0));

        ran = true;
        out->tpm_2_0 = rc == 0 ? VTPM_PROBE_OK
                     : rc == -2 ? VTPM_PROBE_INCONCLUSIVE : VTPM_PROBE_FAILED;
        failed |= rc == -1;
        unsure |= rc == -2;
    }
    if (swtpm->tpm_1_2) {
        int rc = deep_run_version(conf, swtpm->swtpm.path, false, out->error_1_2,
                                  sizeof(out->error_1_2));

        ran = true;
        out->tpm_1_2 = rc == 0 ? VTPM_PROBE_OK
                     : rc == -2 ? VTPM_PROBE_INCONCLUSIVE : VTPM_PROBE_FAILED;
        failed |= rc == -1;
        unsure |= rc == -2;
    }
    if (ran)
        out->status = failed ? VTPM_PROBE_FAILED
                    : unsure ? VTPM_PROBE_INCONCLUSIVE : VTPM_PROBE_OK;
    return 0;
}
