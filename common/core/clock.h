/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock and sleeping on it; the wall clock for dates. */
#ifndef VTPM_COMMON_CLOCK_H
#define VTPM_COMMON_CLOCK_H

#include <stdint.h>

/* Seconds on the monotonic clock (deadlines and durations, not dates). */
double vtpm_clock_now(void);

/* The same in whole milliseconds. */
int64_t vtpm_clock_now_ms(void);

/* Seconds since the epoch on the wall clock, with the fraction (dates, not
 * durations: it can step). */
double vtpm_clock_wall(void);

/* Sleeps @seconds (nothing when not positive), resuming after signals. */
void vtpm_clock_sleep(double seconds);

#endif /* VTPM_COMMON_CLOCK_H */
