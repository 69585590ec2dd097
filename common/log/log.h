/* SPDX-License-Identifier: Apache-2.0 */
/* Logging for the programs (never used by libvtpm-filter, which only calls back). */
#ifndef VTPM_COMMON_LOG_H
#define VTPM_COMMON_LOG_H

#include <stdbool.h>

#include "util.h"

typedef enum {
    VTPM_LOG_ERROR = 0,
    VTPM_LOG_WARNING = 1,
    VTPM_LOG_INFO = 2,
    VTPM_LOG_DEBUG = 3
} vtpm_log_level;

/* Sets the program name and the most verbose level printed (default INFO). */
void vtpm_log_init(const char *progname, vtpm_log_level max_level);

/* Returns true when @level would be printed. */
bool vtpm_log_enabled(vtpm_log_level level);

/*
 * Prints one line to stderr: "progname: level: message". The file, function
 * and line are added at DEBUG level. Use through the macros below.
 */
void vtpm_log_at(vtpm_log_level level, const char *file, int line,
                 const char *func, const char *fmt, ...) VTPM_PRINTF(5, 6);

#define VTPM_LOG(level, ...) \
    vtpm_log_at(level, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define VTPM_ERROR(...) VTPM_LOG(VTPM_LOG_ERROR, __VA_ARGS__)
#define VTPM_WARN(...) VTPM_LOG(VTPM_LOG_WARNING, __VA_ARGS__)
#define VTPM_INFO(...) VTPM_LOG(VTPM_LOG_INFO, __VA_ARGS__)
#define VTPM_DEBUG(...) VTPM_LOG(VTPM_LOG_DEBUG, __VA_ARGS__)

#endif /* VTPM_COMMON_LOG_H */
