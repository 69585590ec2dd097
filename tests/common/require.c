/* SPDX-License-Identifier: Apache-2.0 */
/* What an integration test needs: skip by hand, fail in CI (require.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "require.h"

static bool
env_is(const char *name, const char *value)
{
    const char *v = getenv(name);

    return v && strcmp(v, value) == 0;
}

bool
vtpm_test_require_all(void)
{
    return env_is("CI", "true") || env_is("VTPM_TEST_REQUIRE_ALL", "1");
}

void
vtpm_test_skip(const char *fmt, ...)
{
    char why[512];
    bool tap = env_is("CMOCKA_MESSAGE_OUTPUT", "TAP");
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (vtpm_test_require_all()) {
        fprintf(stderr, "# %s (every test must run here: CI or VTPM_TEST_REQUIRE_ALL)\n", why);
        if (tap)
            printf("Bail out! %s\n", why);
        exit(1);
    }
    fprintf(stderr, "# skip: %s\n", why);
    if (tap) {
        printf("1..0 # SKIP %s\n", why);
        exit(0);
    }
    exit(77);
}

void
vtpm_test_require_root(const char *why)
{
    if (geteuid() != 0)
        vtpm_test_skip("needs root to %s", why);
}

/* Whether @name is an executable path, or an executable on $PATH. */
static bool
program_found(const char *name)
{
    const char *path = getenv("PATH");
    char buf[1024];

    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    while (path && *path) {
        size_t len = strcspn(path, ":");

        if (len > 0 && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, name) <
                           sizeof(buf) &&
            access(buf, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

void
vtpm_test_require_program(const char *program, const char *package)
{
    if (!program_found(program))
        vtpm_test_skip("needs %s (Debian package %s; scripts/setup.sh installs it)", program,
                       package);
}
