/* SPDX-License-Identifier: Apache-2.0 */
/* What every benchmark program needs: a monotonic clock and a comparison to sort timings. */
#ifndef VTPM_BENCH_UTIL_H
#define VTPM_BENCH_UTIL_H

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

#endif /* VTPM_BENCH_UTIL_H */
