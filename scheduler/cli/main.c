/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: entry point. */
#include <stdio.h>

#include "cli.h"

int
main(int argc, char **argv)
{
    return vtpm_filter_cli_main(argc, argv, stdout, stderr);
}
