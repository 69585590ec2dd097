/* SPDX-License-Identifier: Apache-2.0 */
/* Wall and CPU time of `vtpm-reporter probe` (warm, cold cache, --deep), and of Nova's vTPM start-up checks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

typedef struct {
    double wall, cpu;
} sample;

static double
tv_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/*
 * Runs @argv with stdout and stderr to /dev/null; fills @s with its wall
 * time and the CPU time (user + system) of it and everything it waited for.
 * Returns its exit status, or -1.
 */
static int
run_once(char *const *argv, sample *s)
{
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    double start;
    int status;
    pid_t pid;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    start = now_s();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            return -1;
    }
    s->wall = now_s() - start;
    s->cpu = tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct {
    double wall_median, wall_min, wall_max, cpu_median;
} figures;

static void
summarise(const sample *s, int n, figures *f)
{
    double *w = calloc((size_t)n, sizeof(*w)), *c = calloc((size_t)n, sizeof(*c));

    if (!w || !c) {
        fprintf(stderr, "bench_probe: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        w[i] = s[i].wall;
        c[i] = s[i].cpu;
    }
    f->wall_median = median(w, n);
    f->wall_min = w[0];
    f->wall_max = w[n - 1];
    f->cpu_median = median(c, n);
    free(w);
    free(c);
}

static void
print_figures(const char *label, const char *key, const figures *f, int n)
{
    printf("%-44s wall median %8.1f ms (min %.1f, max %.1f), cpu median %8.1f ms, n=%d\n",
           label, f->wall_median * 1e3, f->wall_min * 1e3, f->wall_max * 1e3,
           f->cpu_median * 1e3, n);
    printf("%s_wall_ms=%.2f %s_cpu_ms=%.2f\n", key, f->wall_median * 1e3, key,
           f->cpu_median * 1e3);
}

/* Runs @argv @n times (after @before, if any) and prints the figures. */
static int
measure(const char *label, const char *key, char *const *argv, int n,
        void (*before)(const char *), const char *arg, figures *out)
{
    sample *s = calloc((size_t)n, sizeof(*s));

    if (!s)
        return -1;
    for (int i = 0; i < n; i++) {
        int rc;

        if (before)
            before(arg);
        rc = run_once(argv, &s[i]);
        if (rc != 0) {
            fprintf(stderr, "bench_probe: %s: '%s' exited with status %d\n", label, argv[0], rc);
            free(s);
            return -1;
        }
    }
    summarise(s, n, out);
    print_figures(label, key, out, n);
    free(s);
    return 0;
}

static void
drop_cache(const char *cache_file)
{
    if (unlink(cache_file) < 0 && errno != ENOENT)
        fprintf(stderr, "bench_probe: cannot remove '%s': %s\n", cache_file, strerror(errno));
}

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: bench_probe --reporter PATH --config FILE --cache-file FILE\n"
            "                   [--runs N] [--deep-runs N] [--nova-script PATH]\n"
            "Times `vtpm-reporter probe` warm (libvirtd up, capability cache\n"
            "filled), with a cold cache (FILE removed before each run) and with\n"
            "--deep; with --nova-script, also Nova's vTPM start-up checks through\n"
            "/usr/bin/python3. Prints medians, one human line and one key=value line\n"
            "per figure. Start libvirtd first (bench/run-probe-bench.sh does).\n");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"reporter", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"cache-file", required_argument, NULL, 'f'},
        {"runs", required_argument, NULL, 'n'},
        {"deep-runs", required_argument, NULL, 'd'},
        {"nova-script", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *reporter = NULL, *config = NULL, *cache_file = NULL, *nova = NULL;
    int runs = 21, deep_runs = 5, opt;
    figures warm, cold, deep, nova_proc;
    sample one;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': reporter = optarg; break;
        case 'c': config = optarg; break;
        case 'f': cache_file = optarg; break;
        case 'n': runs = (int)strtol(optarg, NULL, 10); break;
        case 'd': deep_runs = (int)strtol(optarg, NULL, 10); break;
        case 'N': nova = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!reporter || !config || !cache_file || runs < 1 || deep_runs < 1) {
        usage(stderr);
        return 2;
    }

    {
        char *probe[] = {(char *)reporter, (char *)"probe", (char *)"--config",
                         (char *)config, NULL};
        char *probe_deep[] = {(char *)reporter, (char *)"probe", (char *)"--deep",
                              (char *)"--config", (char *)config, NULL};

        /* warm up, twice: libvirtd's first answers, then the capability cache */
        int warm_rc = run_once(probe, &one);

        if (warm_rc == 0)
            warm_rc = run_once(probe, &one);
        if (warm_rc != 0) {
            fprintf(stderr, "bench_probe: '%s probe --config %s' does not succeed; "
                    "is libvirtd running?\n", reporter, config);
            return 1;
        }
        if (measure("probe, warm libvirtd, warm cache", "probe_warm", probe, runs, NULL,
                    NULL, &warm) < 0 ||
            measure("probe, cold capability cache", "probe_cold", probe, runs, drop_cache,
                    cache_file, &cold) < 0 ||
            measure("probe --deep (warm cache)", "probe_deep", probe_deep, deep_runs, NULL,
                    NULL, &deep) < 0)
            return 1;
    }
    printf("target: warm probe under 50 ms median: %s\n",
           warm.wall_median < 0.050 ? "met" : "NOT met");

    if (nova) {
        char *nova_once[] = {(char *)"/usr/bin/python3", (char *)nova, (char *)"--once",
                             NULL};
        char *nova_loop[] = {(char *)"/usr/bin/python3", (char *)nova, (char *)"--loop",
                             NULL};
        int n = runs < 7 ? runs : 7;
        pid_t pid;
        int status;

        if (measure("Nova: python3 + import + vTPM checks", "nova_process", nova_once, n,
                    NULL, NULL, &nova_proc) < 0)
            return 1;
        printf("ratio: Nova process / warm probe (wall): %.1fx\n",
               nova_proc.wall_median / warm.wall_median);
        /* the in-process cost of the checks themselves, printed by the script */
        fflush(stdout);
        if (posix_spawn(&pid, nova_loop[0], NULL, NULL, nova_loop, environ) != 0 ||
            waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_probe: %s --loop failed\n", nova);
            return 1;
        }
    }
    return 0;
}
