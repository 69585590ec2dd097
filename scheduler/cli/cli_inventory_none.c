/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates in a build without libpq: says so. */
#include "cli_inventory.h"
#include "util.h"

vtpm_cli_inventory *
vtpm_cli_inventory_open(const char *dsn, vtpm_error *err)
{
    (void)dsn;
    err->status = VTPM_ERR_INVALID_ARG;
    vtpm_strfmt(err->message, sizeof(err->message),
                "this vtpm-filter was built without libpq: "
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
                              vtpm_error *err)
{
    (void)ci;
    (void)required;
    (void)max;
    err->status = VTPM_ERR_INVALID_ARG;
    vtpm_strfmt(err->message, sizeof(err->message), "the candidates command is not available");
    return NULL;
}
