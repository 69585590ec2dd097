/* SPDX-License-Identifier: Apache-2.0 */
/* The exit codes of vtpm-reporter, vtpm-filter and vtpm-inventory: one number, one meaning. */
#ifndef VTPM_COMMON_EXIT_H
#define VTPM_COMMON_EXIT_H

#include <stdio.h>

/*
 * Every program exits with one of these. A program uses the codes that apply
 * to it (see vtpm_exit_print_help); none gives another meaning to a code.
 * vtpm-reporter's codes are what systemd units and cron lines test: they
 * never change.
 */
typedef enum {
    VTPM_EXIT_OK = 0,           /* done: published and changed, accepted, allowed */
    VTPM_EXIT_FAILURE = 1,      /* the answer is no (vtpm-filter), or the command failed */
    VTPM_EXIT_USAGE = 2,        /* usage or configuration error, unreadable input, unwritable output */
    VTPM_EXIT_UNCHANGED = 3,    /* published, nothing changed */
    VTPM_EXIT_INCONCLUSIVE = 4, /* a probe could not conclude, nothing changed */
    VTPM_EXIT_UNREACHABLE = 5,  /* the inventory cannot be reached */
    VTPM_EXIT_REFUSED = 6,      /* the inventory refused: rights, schema, data */
    VTPM_EXIT_LOCKED = 7,       /* another run held the lock longer than a run takes */
    VTPM_EXIT_LAST
} vtpm_exit;

/* vtpm-filter: some request rejected, no host passes, an operation refused. */
#define VTPM_EXIT_REJECTED VTPM_EXIT_FAILURE

/* Which program a code applies to (a bit mask for vtpm_exit_print_help). */
typedef enum {
    VTPM_EXIT_FOR_REPORTER = 1 << 0,
    VTPM_EXIT_FOR_FILTER = 1 << 1,
    VTPM_EXIT_FOR_INVENTORY = 1 << 2,
} vtpm_exit_program;

/*
 * Prints "Exit status:" and one "  N  meaning" line per code that applies to
 * @program, worded as in the README's table.
 */
void vtpm_exit_print_help(FILE *out, vtpm_exit_program program);

#endif /* VTPM_COMMON_EXIT_H */
