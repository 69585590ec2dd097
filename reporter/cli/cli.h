/* SPDX-License-Identifier: Apache-2.0 */
/* The vtpm-reporter command line: probe and run, over the reporter library. */
#ifndef VTPM_REPORTER_CLI_H
#define VTPM_REPORTER_CLI_H

#include <stdio.h>

#include "conf.h"
#include "decide.h"
#include "facts.h"
#include "report.h"

/*
 * Runs `vtpm-reporter` with @argc/@argv, printing results to @out and
 * messages to @err. Returns a VTPM_EXIT_* code from publish.h.
 */
int vtpm_cli_main(int argc, char **argv, FILE *out, FILE *err);

/*
 * Prints @facts, every trait of @report with its reason, and @warnings (may
 * be NULL) as the text of `probe`: a few lines, one per fact group and trait.
 */
void vtpm_cli_print_report(FILE *out, const vtpm_conf *conf, const vtpm_facts *facts,
                           const vtpm_report *report, const vtpm_warnings *warnings);

/* The default config path: sysconfdir/vtpm-placement/reporter.yaml. */
const char *vtpm_cli_default_config(void);

#endif /* VTPM_REPORTER_CLI_H */
