/* SPDX-License-Identifier: Apache-2.0 */
/* What every benchmark program needs: a monotonic clock and a comparison to sort timings. */
#ifndef VTPM_BENCH_UTIL_H
#define VTPM_BENCH_UTIL_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
static inline double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* For qsort() of doubles, ascending. */
static inline int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* A whole decimal number in [@min, @max] for option --@option of program
 * @prog; anything else ends the program with usage status. */
static inline int
bench_parse_int(const char *prog, const char *option, const char *text, int min, int max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: --%s wants a whole number from %d to %d, not '%s'\n", prog,
                option, min, max, text);
        exit(2);
    }
    return (int)v;
}

/* A finite number in [@min, @max], as bench_parse_int(). */
static inline double
bench_parse_double(const char *prog, const char *option, const char *text, double min,
                   double max)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "%s: --%s wants a number from %g to %g, not '%s'\n", prog, option, min,
                max, text);
        exit(2);
    }
    return v;
}

#endif /* VTPM_BENCH_UTIL_H */
