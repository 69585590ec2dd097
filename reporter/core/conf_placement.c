/* SPDX-License-Identifier: Apache-2.0 */
/* The `placement:` section of the reporter's config: defaults, names, freeing. */
#include <stdlib.h>
#include <string.h>

#include "conf_placement.h"
#include "util.h"

static const char *const auth_names[] = {
    [VTPM_PLACEMENT_AUTH_NONE] = "none",
    [VTPM_PLACEMENT_AUTH_TOKEN] = "token",
    [VTPM_PLACEMENT_AUTH_PASSWORD] = "password",
    [VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL] = "application_credential",
};

const char *
vtpm_placement_auth_name(vtpm_placement_auth auth)
{
    if ((unsigned int)auth >= VTPM_N_ELEMENTS(auth_names))
        return NULL;
    return auth_names[auth];
}

int
vtpm_placement_auth_from_name(const char *name)
{
    for (size_t i = 0; name && i < VTPM_N_ELEMENTS(auth_names); i++) {
        if (strcmp(name, auth_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

void
vtpm_placement_conf_init(vtpm_placement_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->auth = VTPM_PLACEMENT_AUTH_NONE;
    conf->verify = true;
    conf->connect_timeout = 5.0;
    conf->timeout = 30.0;
    conf->retries = 5;
    conf->retry_delay = 0.1;
}

void
vtpm_placement_conf_clear(vtpm_placement_conf *conf)
{
    if (!conf)
        return;
#define X(m) vtpm_free_secret(conf->m);
    VTPM_PLACEMENT_CONF_STRINGS(X)
#undef X
    vtpm_placement_conf_init(conf);
}
