/* SPDX-License-Identifier: Apache-2.0 */
/* Probes: the child-process runner behind the libvirt probe, exported for tests. */
#ifndef VTPM_REPORTER_PROBE_PRIV_H
#define VTPM_REPORTER_PROBE_PRIV_H

#include <stddef.h>

typedef enum {
    VTPM_PROBE_CHILD_OK,      /* the child wrote all @size bytes */
    VTPM_PROBE_CHILD_TIMEOUT, /* not within the deadline: the child was killed */
    VTPM_PROBE_CHILD_FAILED   /* could not start, or ended without a full answer */
} vtpm_probe_child_status;

/*
 * Runs in the child: fills @out (@size bytes, a copy of the parent's) from
 * @arg. Returns 0, or -1 to end the child without an answer.
 */
typedef int (*vtpm_probe_child_fn)(const void *arg, void *out);

/*
 * Calls @fn(@arg, @out) in a forked child, which sends the @size bytes of
 * @out back through a pipe and _exit()s. The parent waits at most @timeout
 * seconds for them; then it kills the child (SIGKILL). The child is always
 * reaped before this returns. @out must be plain data (no pointers) and is
 * undefined unless the result is VTPM_PROBE_CHILD_OK; otherwise @err says
 * what happened ("child process died of signal 11 (Segmentation fault)
 * before answering").
 */
vtpm_probe_child_status vtpm_probe_child_run(vtpm_probe_child_fn fn, const void *arg,
                                             void *out, size_t size, double timeout,
                                             char *err, size_t errlen);

#endif /* VTPM_REPORTER_PROBE_PRIV_H */
