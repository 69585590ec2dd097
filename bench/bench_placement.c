/* SPDX-License-Identifier: Apache-2.0 */
/* Trait updates per second through vtpm_placement_publish() against a real Placement. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>

#include "bench_util.h"
#include "http.h"
#include "log.h"
#include "placement-priv.h"

typedef struct {
    const char *url;
    int first, count;        /* providers [first, first + count) */
    int round;
    vtpm_publish_status expect;
    double *lat;             /* seconds per publish */
    int failures;
    vtpm_placement_stats stats;
    char last_error[512];
} worker;

static void
provider_uuid(int i, char *buf, size_t len)
{
    snprintf(buf, len, "c0000000-0000-4000-8000-%012d", i);
}

/* Creates the providers that do not exist yet (not timed). */
static int
create_providers(const char *url, int n)
{
    static const char *const headers[] = {
        "X-Auth-Token: admin", "OpenStack-API-Version: placement 1.39",
        "Content-Type: application/json", NULL
    };
    vtpm_http_conf hc = { .verify = true, .connect_timeout = 5, .timeout = 60 };
    char err[256], target[512], body[256], uuid[40];
    vtpm_http *h = vtpm_http_new(&hc, err, sizeof(err));
    vtpm_http_response resp = { 0 };

    if (!h) {
        fprintf(stderr, "bench_placement: %s\n", err);
        return -1;
    }
    snprintf(target, sizeof(target), "%s/resource_providers", url);
    for (int i = 0; i < n; i++) {
        provider_uuid(i, uuid, sizeof(uuid));
        snprintf(body, sizeof(body), "{\"name\": \"pbench-%06d\", \"uuid\": \"%s\"}", i, uuid);
        if (vtpm_http_request(h, "POST", target, headers, body, &resp) < 0 ||
            (resp.status != 200 && resp.status != 409)) {
            fprintf(stderr, "bench_placement: cannot create provider %d: HTTP %ld %s\n", i,
                    resp.status, resp.error);
            vtpm_http_response_clear(&resp);
            vtpm_http_free(h);
            return -1;
        }
    }
    vtpm_http_response_clear(&resp);
    vtpm_http_free(h);
    return 0;
}

static void *
worker_run(void *opaque)
{
    worker *w = opaque;
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    char err[256];

    vtpm_placement_conf_init(&conf);
    conf.url = (char *)w->url;
    conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf.token = (char *)"admin";
    client = vtpm_placement_client_new(&conf, err, sizeof(err));
    if (!client) {
        snprintf(w->last_error, sizeof(w->last_error), "%s", err);
        w->failures = w->count;
        return NULL;
    }
    for (int k = 0; k < w->count; k++) {
        int i = w->first + k;
        vtpm_report r;
        vtpm_publish_result res;
        double t0;

        memset(&r, 0, sizeof(r));
        snprintf(r.host, sizeof(r.host), "pbench-%06d", i);
        provider_uuid(i, r.provider_uuid, sizeof(r.provider_uuid));
        r.traits[(i + w->round) % 2 ? VTPM_TRAIT_TPM_1_2 : VTPM_TRAIT_TPM_2_0].state =
            VTPM_TRAIT_STATE_PRESENT;
        t0 = now_s();
        vtpm_placement_publish(client, &r, &res);
        w->lat[k] = now_s() - t0;
        if (res.status != w->expect) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", res.message);
        }
    }
    vtpm_placement_client_stats(client, &w->stats);
    vtpm_placement_client_free(client);
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "n", required_argument, NULL, 'n' },
        { "clients", required_argument, NULL, 'c' },
        { "round", required_argument, NULL, 'r' },
        { "noop", no_argument, NULL, 'o' },
        { "create", no_argument, NULL, 'C' },
        { NULL, 0, NULL, 0 },
    };
    const char *url = NULL;
    int n = 1000, clients = 1, round = 0, opt;
    bool noop = false, create = false;
    worker w[8];
    pthread_t th[8];
    double *lat, t0, wall, cpu;
    unsigned int requests = 0, puts = 0, conflicts = 0;
    long connections = 0;
    int failures = 0;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'n': n = (int)strtol(optarg, NULL, 10); break;
        case 'c': clients = (int)strtol(optarg, NULL, 10); break;
        case 'r': round = (int)strtol(optarg, NULL, 10); break;
        case 'o': noop = true; break;
        case 'C': create = true; break;
        default:
            fprintf(stderr, "usage: bench_placement --url URL [--n N] [--clients 1..8] "
                    "[--round R] [--noop] [--create]\n");
            return 2;
        }
    }
    if (!url || n <= 0 || clients < 1 || clients > 8) {
        fprintf(stderr, "bench_placement: --url needed, n > 0, 1 to 8 clients\n");
        return 2;
    }
    vtpm_log_init("bench_placement", VTPM_LOG_ERROR);
    if (create)
        return create_providers(url, n) < 0 ? 1 : 0;

    lat = calloc((size_t)n, sizeof(*lat));
    if (!lat)
        return 1;
    /* Create the clients' libcurl state before threads start. */
    {
        char err[256];
        vtpm_http_conf hc = { .verify = true };
        vtpm_http_free(vtpm_http_new(&hc, err, sizeof(err)));
    }
    t0 = now_s();
    for (int c = 0; c < clients; c++) {
        int per = n / clients;

        w[c] = (worker){
            .url = url, .first = c * per, .count = c == clients - 1 ? n - c * per : per,
            .round = round, .lat = lat + c * per,
            .expect = noop ? VTPM_PUBLISH_UNCHANGED : VTPM_PUBLISH_CHANGED,
        };
        pthread_create(&th[c], NULL, worker_run, &w[c]);
    }
    for (int c = 0; c < clients; c++) {
        pthread_join(th[c], NULL);
        failures += w[c].failures;
        requests += w[c].stats.requests;
        puts += w[c].stats.trait_puts;
        conflicts += w[c].stats.conflicts;
        connections += w[c].stats.connections;
        if (w[c].failures)
            fprintf(stderr, "bench_placement: client %d: %d failures, last: %s\n", c,
                    w[c].failures, w[c].last_error);
    }
    wall = now_s() - t0;
    {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
    printf("C/libcurl  %-6s clients=%d n=%d  %7.1f updates/s  median %5.1f ms  p90 %5.1f ms"
           "  client CPU %.3f ms/update  requests/update %.2f  PUTs %u  conflicts %u"
           "  connections %ld  failures %d\n",
           noop ? "no-op" : "change", clients, n, n / wall, lat[n / 2] * 1e3,
           lat[(n * 9) / 10] * 1e3, cpu * 1e3 / n, (double)requests / n, puts, conflicts, connections,
           failures);
    free(lat);
    return failures ? 1 : 0;
}
