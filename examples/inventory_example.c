/* SPDX-License-Identifier: Apache-2.0 */
/* Example: a scheduler asks the inventory which hosts can take a request, and follows changes. */
/*
 * Build it against the installed libraries:
 *
 *   cc -o inventory_example inventory_example.c \
 *      $(pkg-config --cflags --libs vtpm-filter vtpm-inventory)
 *
 * Run it with the inventory's DSN (a vtpm_reader login is enough) and how
 * many seconds to wait for a change:
 *
 *   inventory_example "host=db.example dbname=vtpm user=scheduler" 60
 *
 * It translates one request (TPM 2.0 with a CRB interface) once, loads the
 * inventory once, answers, and then answers again each time a published
 * change reaches it, until the time is up.
 */
#define _POSIX_C_SOURCE 200809L  /* clock_gettime, poll with -std=c11 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vtpm/filter.h>
#include <vtpm/inventory.h>

#define SHOW_MAX 5

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints how many hosts have @required, and the first few of them. */
static void
answer(const vtpm_inventory *inv, vtpm_traitset required)
{
    vtpm_uuid found[SHOW_MAX];
    size_t n = vtpm_inventory_candidates(inv, required, 0, found, SHOW_MAX);

    printf("%zu of %zu hosts can take it\n", n, vtpm_inventory_size(inv));
    for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
        char text[VTPM_UUID_STRING_SIZE];

        vtpm_uuid_format(&found[i], text);
        printf("  %s\n", text);
    }
    if (n > SHOW_MAX)
        printf("  ... and %zu more\n", n - SHOW_MAX);
    fflush(stdout);
}

/* The traits the request needs, through libvtpm-filter; 0 when refused. */
static vtpm_traitset
request_traits(void)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_traitset required = 0;
    vtpm_code code;

    if (filter && req &&
        vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0") == VTPM_OK &&
        vtpm_request_set_flavor_spec(req, "hw:tpm_model", "tpm-crb") == VTPM_OK &&
        !vtpm_filter_required_traits(filter, req, &required, &code))
        required = 0;
    vtpm_request_free(req);
    vtpm_filter_free(filter);
    return required;
}

int
main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("VTPM_DSN");
    char *rest = NULL;
    double wait = argc > 2 ? strtod(argv[2], &rest) : 0, end;
    vtpm_error err = { 0 };
    vtpm_traitset required = request_traits();
    vtpm_inventory *inv;
    uint64_t applied;

    if (!dsn || !required || (rest && (*rest || rest == argv[2] || wait < 0))) {
        fprintf(stderr, "usage: inventory_example DSN [SECONDS]\n");
        return 2;
    }
    inv = vtpm_inventory_open(dsn, 0, &err);
    if (!inv) {
        fprintf(stderr, "inventory_example: %s\n", err.message);
        return 1;
    }
    printf("request: TPM 2.0 with a CRB interface\n");
    answer(inv, required);

    /* Wait on the inventory's socket; refresh applies what arrived. */
    end = now_s() + wait;
    applied = vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED);
    if (wait > 0) {
        printf("waiting for changes\n");
        fflush(stdout);
    }
    while (now_s() < end) {
        struct pollfd pfd = { .fd = vtpm_inventory_fd(inv), .events = POLLIN };
        int timeout_ms = (int)((end - now_s()) * 1000) + 1;

        /* While the connection is lost there is no socket: wait a little. */
        poll(pfd.fd >= 0 ? &pfd : NULL, pfd.fd >= 0 ? 1 : 0,
             timeout_ms < 1000 ? timeout_ms : 1000);
        if (vtpm_inventory_refresh(inv, 0, &err) != VTPM_OK)
            fprintf(stderr, "inventory_example: %s (answers stay as they were)\n", err.message);
        if (vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED) != applied) {
            applied = vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED);
            printf("a host changed\n");
            answer(inv, required);
        }
    }
    vtpm_inventory_close(inv);
    return 0;
}
