/* SPDX-License-Identifier: Apache-2.0 */
/* Parts of the Placement client exported for its tests only. */
#ifndef VTPM_PLACEMENT_PRIV_H
#define VTPM_PLACEMENT_PRIV_H

#include <jansson.h>

#include "placement.h"

/* Counters of what a client did, for tests and the benchmark. */
typedef struct {
    unsigned int requests;        /* HTTP requests to Placement */
    unsigned int trait_puts;      /* PUT .../traits sent */
    unsigned int conflicts;       /* 409 placement.concurrent_update met */
    unsigned int token_requests;  /* tokens asked from Keystone */
    unsigned int renewals;        /* 401 answered by renewing the token */
    long connections;             /* TCP connections opened */
    int microversion;             /* minor version in use, 0 before the first call */
} vtpm_placement_stats;

void vtpm_placement_client_stats(const vtpm_placement_client *client,
                                 vtpm_placement_stats *stats);

/* Called between reading the provider's traits and writing them. */
typedef void (*vtpm_placement_hook)(void *opaque);
void vtpm_placement_client_set_before_put(vtpm_placement_client *client,
                                          vtpm_placement_hook hook, void *opaque);

/*
 * Parses "1.N" into N; returns -1 unless the major version is 1 and N is a
 * plain decimal.
 */
int vtpm_placement_microversion_parse(const char *s);

/*
 * Computes the trait list to write: the names in @current (a JSON array of
 * strings) that are not managed traits, plus the names of @want. Returns a
 * new array in @out (or NULL on allocation failure) and the set of managed
 * traits @current holds.
 */
vtpm_traitset vtpm_placement_traits_merge(json_t *current, vtpm_traitset want,
                                          json_t **out);

/*
 * Writes Placement's error detail from an answer body (@body, HTTP @status)
 * as one line into @buf: "HTTP 409 Conflict: <detail> (<code>)". Bodies that
 * are not Placement's JSON errors are quoted and cut short. Sets @code to the
 * first error's code, or "" (at most @codelen bytes).
 */
void vtpm_placement_error_text(long status, const char *body, char *buf, size_t len,
                               char *code, size_t codelen);

#endif /* VTPM_PLACEMENT_PRIV_H */
