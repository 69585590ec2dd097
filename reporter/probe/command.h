/* SPDX-License-Identifier: Apache-2.0 */
/* Spawning external programs: argv arrays, bounded output, timeouts, dry runs. */
#ifndef VTPM_REPORTER_COMMAND_H
#define VTPM_REPORTER_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* How a command ended. */
typedef enum {
    VTPM_COMMAND_EXITED = 0,        /* exited; see exit_code */
    VTPM_COMMAND_SIGNALED = 1,      /* killed by a signal it did not expect */
    VTPM_COMMAND_TIMED_OUT = 2,     /* ran past its timeout; killed and reaped */
    VTPM_COMMAND_SPAWN_FAILED = 3   /* never ran (not executable, no memory, ...) */
} vtpm_command_outcome;

#define VTPM_COMMAND_OUTPUT_MAX_DEFAULT ((size_t)1 << 20)

typedef struct {
    /* Seconds before the child and its process group are killed; <= 0: none. */
    double timeout;
    /* Bytes kept of stdout and of stderr each; the rest is read and dropped
     * so that the child never blocks on a full pipe. 0: the default (1 MiB). */
    size_t output_max;
} vtpm_command_opts;

typedef struct {
    vtpm_command_outcome outcome;
    int exit_code;                  /* when EXITED */
    int signal;                     /* when SIGNALED */
    char *out;                      /* stdout, NUL-terminated, owned; never NULL after run */
    size_t out_len;
    bool out_truncated;
    char *err;                      /* stderr, likewise */
    size_t err_len;
    bool err_truncated;
    double elapsed;                 /* seconds */
    char error[256];                /* one line, when not EXITED with 0 */
} vtpm_command_result;

/*
 * Runs @argv (argv[0] is the program's path; no PATH search, no shell) with
 * stdin from /dev/null, captures stdout and stderr, and waits for it,
 * at most @opts->timeout seconds (@opts may be NULL). The child runs in its
 * own process group, which is killed on timeout; the child is always reaped.
 *
 * Fills @res (clear it with vtpm_command_result_clear()). Returns 0 when the
 * command ran and exited with status 0, 1 when it ran but did not (non-zero
 * exit, signal, timeout), -1 when it could not be spawned; @res->error then
 * says why in one line.
 */
int vtpm_command_run(const char *const *argv, const vtpm_command_opts *opts,
                     vtpm_command_result *res);

/* Frees what @res owns and zeroes it. NULL-safe. */
void vtpm_command_result_clear(vtpm_command_result *res);

/* Formats @argv as one line for messages, each word quoted if needed. */
char *vtpm_command_format(char *buf, size_t size, const char *const *argv);

/*
 * Dry-run mode, for tests: while a handler is installed, vtpm_command_run()
 * spawns nothing and calls @fn instead, which fills @res (outcome, exit code,
 * output through vtpm_command_result_set_output()) as if the command had run,
 * and returns what vtpm_command_run() should return. Passing NULL ends
 * dry-run mode. This is process-wide state: programs never set it.
 */
typedef int (*vtpm_command_dry_run_fn)(const char *const *argv,
                                       vtpm_command_result *res, void *opaque);
void vtpm_command_set_dry_run(vtpm_command_dry_run_fn fn, void *opaque);

/* Copies @out and @err (either may be NULL) into @res; for dry-run handlers. */
void vtpm_command_result_set_output(vtpm_command_result *res,
                                   const char *out, const char *err);

/*
 * A long-running child (the deep probe's swtpm): started in its own process
 * group with stdin from /dev/null and stdout and stderr appended to
 * @log_path (or /dev/null when NULL).
 */
typedef struct vtpm_command_child vtpm_command_child;

/* Returns a new child (free with vtpm_command_child_stop()), or NULL with
 * a message in @err. Not available in dry-run mode. */
vtpm_command_child *vtpm_command_child_start(const char *const *argv,
                                             const char *log_path,
                                             char *err, size_t errlen);

/* The child's process id. */
pid_t vtpm_command_child_pid(const vtpm_command_child *child);

/*
 * Returns true when the child has ended (and reaps it), filling @outcome,
 * @code (exit status or signal); false while it still runs.
 */
bool vtpm_command_child_ended(vtpm_command_child *child,
                              vtpm_command_outcome *outcome, int *code);

/* Waits up to @timeout seconds for the child to end by itself. Returns true
 * when it ended (and was reaped). */
bool vtpm_command_child_wait(vtpm_command_child *child, double timeout,
                             vtpm_command_outcome *outcome, int *code);

/*
 * Ends the child if it still runs: SIGTERM to its process group, up to
 * @grace seconds, then SIGKILL; reaps it and frees @child. NULL-safe.
 */
void vtpm_command_child_stop(vtpm_command_child *child, double grace);

#endif /* VTPM_REPORTER_COMMAND_H */
