/* SPDX-License-Identifier: Apache-2.0 */
/* Starting and stopping the services the Placement tests talk to. */
#ifndef VTPM_TEST_PLACEMENT_SERVICE_H
#define VTPM_TEST_PLACEMENT_SERVICE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Runs @argv (no shell) to completion; its first line of stdout goes into
 * @line (may be NULL), stderr is inherited. Returns the exit status, or -1.
 */
int vtpm_test_run(char *const argv[], char *line, size_t len);

/*
 * Starts @argv in the background and waits for its first line of stdout
 * (into @line). Returns its pid, or -1 when it could not start or exited.
 */
pid_t vtpm_test_spawn(char *const argv[], char *line, size_t len);

/* Stops a process started by vtpm_test_spawn() and reaps it. */
void vtpm_test_stop(pid_t pid);

/* Creates a fresh folder under /tmp (short: it holds Unix sockets). */
int vtpm_test_tmpdir(char *dir, size_t len, const char *tag);

/* Removes a folder made by vtpm_test_tmpdir(). */
void vtpm_test_rmdir(const char *dir);

/* $VTPM_SOURCE_ROOT/@rel into @buf; the tests run from meson, which sets it. */
const char *vtpm_test_source_path(char *buf, size_t len, const char *rel);

#endif /* VTPM_TEST_PLACEMENT_SERVICE_H */
