/* SPDX-License-Identifier: Apache-2.0 */
/* The vtpm-filter command, callable from tests without a process. */
#ifndef VTPM_SCHEDULER_CLI_H
#define VTPM_SCHEDULER_CLI_H

#include <stdio.h>

/*
 * Runs vtpm-filter with @argv, reading FILE or standard input, writing
 * results to @out and messages to @err. Returns the exit status.
 */
int vtpm_filter_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
