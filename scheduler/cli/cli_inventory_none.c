/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates in a build without libpq: says so. */
#include "cli_inventory.h"
#include "util.h"

vtpm_cli_inventory *
vtpm_cli_inventory_open(const char *dsn, char *msg, size_t msglen)
{
    (void)dsn;
    vtpm_strfmt(msg, msglen, "this vtpm-filter was built without libpq: "
                             "the candidates command is not available");
    return NULL;
}

void
vtpm_cli_inventory_close(vtpm_cli_inventory *ci)
{
    (void)ci;
}

json_t *
vtpm_cli_inventory_candidates(vtpm_cli_inventory *ci, vtpm_traitset required, size_t max,
                              char *msg, size_t msglen)
{
    (void)ci;
    (void)required;
    (void)max;
    vtpm_strfmt(msg, msglen, "the candidates command is not available");
    return NULL;
}
