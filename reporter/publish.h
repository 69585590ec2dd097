/* SPDX-License-Identifier: Apache-2.0 */
/* What every publisher returns, and the reporter's exit codes. */
#ifndef VTPM_REPORTER_PUBLISH_H
#define VTPM_REPORTER_PUBLISH_H

#include "report.h"

typedef enum {
    VTPM_PUBLISH_CHANGED = 0,      /* stored; at least one trait changed */
    VTPM_PUBLISH_UNCHANGED = 1,    /* stored; every trait already as reported */
    VTPM_PUBLISH_INCONCLUSIVE = 2, /* report recorded, no trait changed */
    VTPM_PUBLISH_UNREACHABLE = 3,  /* could not reach the inventory: worth a retry */
    VTPM_PUBLISH_REFUSED = 4,      /* the inventory refused (permission, bad data) */
    VTPM_PUBLISH_CONFIG = 5        /* the publisher's configuration is unusable */
} vtpm_publish_status;

typedef struct {
    vtpm_publish_status status;
    long long generation;          /* provider generation after publishing, -1 if unknown */
    unsigned int warnings;         /* e.g. traits the service does not know */
    char message[512];             /* one line; never contains a secret */
} vtpm_publish_result;

/* Exit codes of `vtpm-reporter run` (and, where they apply, `probe`). */
enum {
    VTPM_EXIT_PUBLISHED = 0,       /* published, traits changed (probe: success) */
    VTPM_EXIT_FAILURE = 1,         /* unexpected internal failure */
    VTPM_EXIT_CONFIG = 2,          /* usage or configuration error */
    VTPM_EXIT_UNCHANGED = 3,       /* published, nothing changed */
    VTPM_EXIT_INCONCLUSIVE = 4,    /* probe inconclusive, no trait changed */
    VTPM_EXIT_UNREACHABLE = 5,     /* inventory unreachable after retries */
    VTPM_EXIT_REFUSED = 6          /* inventory refused the report */
};

#endif /* VTPM_REPORTER_PUBLISH_H */
