/* SPDX-License-Identifier: Apache-2.0 */
/* The publisher interface: what the run loop calls, what every publisher returns. */
#ifndef VTPM_REPORTER_PUBLISH_H
#define VTPM_REPORTER_PUBLISH_H

#include <stddef.h>

#include "conf.h"
#include "exit.h" /* the exit codes of `vtpm-reporter run` and `probe` */
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
    /* Placement only: what the provider held when first read, before this
     * publish wrote anything (to see who else changes the traits). */
    bool placement_read;           /* the fields below are set */
    vtpm_traitset placement_before; /* managed traits the provider had */
    vtpm_traitset placement_known;  /* managed traits the service knows */
    /* Not published because the same report was published less than
     * `heartbeat` seconds ago (run_state.c): when, in seconds since the
     * epoch; 0 otherwise. */
    long long heartbeat_publish;
    /* Set by vtpm_run() when it published: the wall-clock time, in seconds
     * since the epoch, it recorded the publish at (published.json holds
     * the whole seconds of it); 0 otherwise. */
    double published_at;
} vtpm_publish_result;

/*
 * A publisher: where `run` stores a report. Each adapter (publish/pg/,
 * publish/placement/) defines one ops table; the run loop and the fan-out of
 * `inventory: both` reach publishers only through it.
 */
typedef struct {
    const char *name;
    /* The publisher's state for @conf (borrowed: @conf outlives it), or NULL
     * with @err filled when its configuration is unusable. NULL: no state. */
    void *(*open)(const vtpm_conf *conf, char *err, size_t errlen);
    /* Stores @report, fills @out (always, also on failure), returns
     * out->status. VTPM_PUBLISH_UNREACHABLE is retried, nothing else is. */
    vtpm_publish_status (*publish)(void *state, const vtpm_report *report,
                                   vtpm_publish_result *out);
    /* Frees what open() returned. NULL: nothing to free. */
    void (*close)(void *state);
} vtpm_publisher_ops;

/* An open publisher: its ops and their state. */
typedef struct {
    const vtpm_publisher_ops *ops;
    void *state;
} vtpm_publisher;

extern const vtpm_publisher_ops vtpm_publisher_postgres;   /* publish/pg/ */
extern const vtpm_publisher_ops vtpm_publisher_placement;  /* publish/placement/ */
extern const vtpm_publisher_ops vtpm_publisher_both;       /* postgres, then placement */

/*
 * Opens the publisher conf->inventory names into @pub. Returns 0, or -1 with
 * @err filled when its configuration is unusable (nothing to close then).
 */
int vtpm_publisher_open(vtpm_publisher *pub, const vtpm_conf *conf, char *err,
                        size_t errlen);

/* Publishes through @pub; see vtpm_publisher_ops.publish. */
vtpm_publish_status vtpm_publisher_publish(const vtpm_publisher *pub,
                                           const vtpm_report *report,
                                           vtpm_publish_result *out);

/* Closes @pub (NULL, or one never opened and zeroed, is fine). */
void vtpm_publisher_close(vtpm_publisher *pub);

#endif /* VTPM_REPORTER_PUBLISH_H */
