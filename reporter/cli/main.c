/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-reporter: probe a compute host for vTPM support and publish its traits. */
#include <stdio.h>

#include "cli.h"

int
main(int argc, char **argv)
{
    return vtpm_cli_main(argc, argv, stdout, stderr);
}
