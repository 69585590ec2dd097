/* SPDX-License-Identifier: Apache-2.0 */
/* Signed publishes per second, one new connection per report as the timer runs them, to a DSN. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "publish_pg.h"
#include "util.h"

/* One host: its name and its key (from `host key-token` lines). */
typedef struct {
    char name[64];
    vtpm_host_key key;
} bench_host;

/* Reads "HOST TOKEN" lines of @path; returns the count, or -1. */
static int
hosts_read(const char *path, bench_host **out)
{
    char line[256], err[256], name[64], token[160];
    bench_host *hosts = NULL;
    int n = 0, cap = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%63s %159s", name, token) != 2)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            if (!(hosts = realloc(hosts, (size_t)cap * sizeof(*hosts))))
                abort();
        }
        vtpm_strfmt(hosts[n].name, sizeof(hosts[n].name), "%s", name);
        if (vtpm_host_key_parse(token, &hosts[n].key, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench: %s: %s\n", name, err);
            fclose(f);
            free(hosts);
            return -1;
        }
        n++;
    }
    fclose(f);
    *out = hosts;
    return n;
}

/* A report of @host: TPM 2.0 and CRB present, and TPM 1.2 when @tpm_1_2, with
 * reasons as the reporter writes them. */
static void
report_of(vtpm_report *r, const char *host, bool tpm_1_2)
{
    memset(r, 0, sizeof(*r));
    vtpm_strfmt(r->host, sizeof(r->host), "%s", host);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        bool on = t == VTPM_TRAIT_TPM_2_0 || t == VTPM_TRAIT_TPM_CRB ||
                  (t == VTPM_TRAIT_TPM_1_2 && tpm_1_2);

        r->traits[t].state = on ? VTPM_TRAIT_STATE_PRESENT : VTPM_TRAIT_STATE_ABSENT;
        r->traits[t].reason_code = on ? "ok" : "bench_absent";
        vtpm_strfmt(r->traits[t].reason, sizeof(r->traits[t].reason), "%s %s (benchmark)",
                    vtpm_trait_name((vtpm_trait)t), on ? "supported" : "not supported");
    }
    r->facts_json = (char *)"{\"libvirt\": {\"version\": \"9.0.0\"}, \"swtpm\": {\"version\": \"0.7.3\"}}";
}

/* Client @c of @clients: publishes hosts c, c + clients, ... @n times in all;
 * writes each latency (seconds, a double) to @fd. Returns failures. */
static int
client_run(const char *dsn, const bench_host *hosts, int nhosts, int c, int clients, int n,
           bool tpm_1_2, int fd)
{
    vtpm_publish_result res;
    vtpm_report r;
    int failed = 0;

    for (int i = c; i < n; i += clients) {
        const bench_host *h = &hosts[i % nhosts];
        double t0 = now_s(), dt;

        report_of(&r, h->name, tpm_1_2);
        if (vtpm_pg_publish_signed(dsn, &h->key, &r, &res) > VTPM_PUBLISH_INCONCLUSIVE) {
            if (failed++ < 3)
                fprintf(stderr, "bench: %s\n", res.message);
        }
        dt = now_s() - t0;
        if (write(fd, &dt, sizeof(dt)) != (ssize_t)sizeof(dt))
            return failed + 1;
    }
    return failed;
}

int
main(int argc, char **argv)
{
    bench_host *hosts = NULL;
    double *lat, t0, wall;
    int nhosts, clients, n, fds[2], got = 0, failed = 0;
    bool tpm_1_2 = false;

    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: bench_pooled LABEL DSN HOSTS_FILE CLIENTS PUBLISHES [TPM_1_2]\n"
                        "  TPM_1_2 (0 or 1, default 0): whether the reports have TPM 1.2; a run\n"
                        "  with the other value than the last changes every host it publishes\n");
        return 2;
    }
    if (argc == 7)
        tpm_1_2 = bench_parse_int("bench_pooled", "TPM_1_2", argv[6], 0, 1) == 1;
    clients = bench_parse_int("bench_pooled", "clients", argv[4], 1, 64);
    n = bench_parse_int("bench_pooled", "publishes", argv[5], 1, 10000000);
    if ((nhosts = hosts_read(argv[3], &hosts)) <= 0 || clients < 1 || n < clients) {
        fprintf(stderr, "bench: no hosts in '%s', or bad counts\n", argv[3]);
        return 2;
    }
    if (pipe(fds) < 0 || !(lat = calloc((size_t)n, sizeof(*lat))))
        return 1;
    t0 = now_s();
    for (int c = 0; c < clients; c++) {
        pid_t pid = fork();

        if (pid == 0) {
            close(fds[0]);
            _exit(client_run(argv[2], hosts, nhosts, c, clients, n, tpm_1_2, fds[1]) ? 1 : 0);
        }
    }
    close(fds[1]);
    while (got < n && read(fds[0], &lat[got], sizeof(double)) == (ssize_t)sizeof(double))
        got++;
    for (int c = 0, st; c < clients; c++)
        if (wait(&st) > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            failed++;
    wall = now_s() - t0;
    qsort(lat, (size_t)got, sizeof(*lat), compare_double);
    printf("%-34s %6d publishes, %d clients: %7.0f /s   p50 %6.2f ms   p99 %6.2f ms%s\n",
           argv[1], got, clients, got / wall, got ? 1e3 * lat[got / 2] : 0,
           got ? 1e3 * lat[(size_t)(got * 0.99)] : 0, failed ? "   (FAILURES)" : "");
    free(lat);
    free(hosts);
    return failed || got != n ? 1 : 0;
}
