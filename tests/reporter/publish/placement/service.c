/* SPDX-License-Identifier: Apache-2.0 */
/* Process helpers for the Placement tests: fixtures run as argv, never a shell. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "service.h"

/* Reads one line from @fd into @line; returns 0 when a line ended. */
static int
service_read_line(int fd, char *line, size_t len)
{
    size_t o = 0;
    char c;

    for (;;) {
        ssize_t n = read(fd, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c == '\n') {
            if (line && len)
                line[o < len ? o : len - 1] = '\0';
            return 0;
        }
        if (line && o + 1 < len)
            line[o++] = c;
    }
    if (line && len)
        line[o < len ? o : len - 1] = '\0';
    return o > 0 ? 0 : -1;
}

static pid_t
service_start(char *const argv[], int *out_fd)
{
    posix_spawn_file_actions_t fa;
    int pipefd[2];
    pid_t pid;
    int rc;

    if (pipe(pipefd) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        fprintf(stderr, "# cannot run '%s': %s\n", argv[0], strerror(rc));
        close(pipefd[0]);
        return -1;
    }
    *out_fd = pipefd[0];
    return pid;
}

int
vtpm_test_run(char *const argv[], char *line, size_t len)
{
    int fd, status;
    pid_t pid = service_start(argv, &fd);
    char rest[256];

    if (pid < 0)
        return -1;
    service_read_line(fd, line, len);
    while (service_read_line(fd, rest, sizeof(rest)) == 0)
        ;
    close(fd);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t
vtpm_test_spawn(char *const argv[], char *line, size_t len)
{
    int fd;
    pid_t pid = service_start(argv, &fd);

    if (pid < 0)
        return -1;
    if (service_read_line(fd, line, len) < 0) {
        close(fd);
        vtpm_test_stop(pid);
        return -1;
    }
    /* The service's later output is not read: keep the pipe's read end open
     * no longer, so that a chatty service fails loudly instead of blocking. */
    close(fd);
    return pid;
}

void
vtpm_test_stop(pid_t pid)
{
    struct timespec ts = { 0, 20 * 1000 * 1000 };

    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int
vtpm_test_tmpdir(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "/tmp/vtpm-%s-XXXXXX", tag);
    if (!mkdtemp(dir))
        return -1;
    /* Services that drop root (PostgreSQL) must be able to enter it. */
    return chmod(dir, 0755);
}

void
vtpm_test_rmdir(const char *dir)
{
    char *argv[] = { (char *)"/bin/rm", (char *)"-rf", (char *)dir, NULL };

    if (dir && strncmp(dir, "/tmp/vtpm-", 10) == 0)
        vtpm_test_run(argv, NULL, 0);
}

const char *
vtpm_test_source_path(char *buf, size_t len, const char *rel)
{
    const char *root = getenv("VTPM_SOURCE_ROOT");

    snprintf(buf, len, "%s/%s", root ? root : ".", rel);
    return buf;
}
