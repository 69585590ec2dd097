/* SPDX-License-Identifier: Apache-2.0 */
/* One-line, greppable log messages on stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static const char *log_progname = "vtpm";
static vtpm_log_level log_max = VTPM_LOG_INFO;

static const char *const level_names[] = {
    [VTPM_LOG_ERROR] = "error",
    [VTPM_LOG_WARNING] = "warning",
    [VTPM_LOG_INFO] = "info",
    [VTPM_LOG_DEBUG] = "debug",
};

void
vtpm_log_init(const char *progname, vtpm_log_level max_level)
{
    if (progname)
        log_progname = progname;
    log_max = max_level;
}

bool
vtpm_log_enabled(vtpm_log_level level)
{
    return level <= log_max;
}

void
vtpm_log_at(vtpm_log_level level, const char *file, int line,
            const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!vtpm_log_enabled(level))
        return;
    va_start(ap, fmt);
    vtpm_vstrfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_max >= VTPM_LOG_DEBUG)
        fprintf(stderr, "%s: %s: %s (%s:%d %s)\n", log_progname,
                level_names[level], msg, file, line, func);
    else
        fprintf(stderr, "%s: %s: %s\n", log_progname, level_names[level], msg);
}
