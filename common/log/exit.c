/* SPDX-License-Identifier: Apache-2.0 */
/* The exit code table, as each program's --help prints it. */
#include "exit.h"
#include "util.h"

enum {
    FOR_ALL = VTPM_EXIT_FOR_REPORTER | VTPM_EXIT_FOR_FILTER | VTPM_EXIT_FOR_INVENTORY,
};

static const struct {
    unsigned int programs;
    const char *meaning;
} exit_table[VTPM_EXIT_LAST] = {
    [VTPM_EXIT_OK] = {
        FOR_ALL,
        "success (vtpm-reporter probe: the probe concluded; run: published,\n"
        "     some trait changed; vtpm-filter: every request accepted, a host\n"
        "     passes, the operation allowed)" },
    [VTPM_EXIT_FAILURE] = {
        FOR_ALL,
        "vtpm-filter: a request rejected, no host passes, or the operation\n"
        "     refused; otherwise: the command failed" },
    [VTPM_EXIT_USAGE] = {
        FOR_ALL, "usage or configuration error, unreadable input, or output that\n"
        "     cannot be written" },
    [VTPM_EXIT_UNCHANGED] = {
        VTPM_EXIT_FOR_REPORTER,
        "published, nothing changed; or not published: unchanged since the\n"
        "     last publish, within the heartbeat" },
    [VTPM_EXIT_INCONCLUSIVE] = {
        VTPM_EXIT_FOR_REPORTER,
        "a probe could not conclude (libvirtd or key manager not answering):\n"
        "     nothing was decided, no trait changed" },
    [VTPM_EXIT_UNREACHABLE] = {
        FOR_ALL, "the inventory cannot be reached (vtpm-reporter run: after the retries)" },
    [VTPM_EXIT_REFUSED] = {
        VTPM_EXIT_FOR_REPORTER | VTPM_EXIT_FOR_FILTER,
        "the inventory refused: no right, not migrated, or bad data" },
    [VTPM_EXIT_LOCKED] = {
        VTPM_EXIT_FOR_REPORTER,
        "run: another run held the lock for longer than a whole run takes:\n"
        "     nothing published" },
};

void
vtpm_exit_print_help(FILE *out, vtpm_exit_program program)
{
    size_t code;

    fputs("Exit status:\n", out);
    for (code = 0; code < VTPM_N_ELEMENTS(exit_table); code++) {
        if (exit_table[code].programs & (unsigned int)program)
            fprintf(out, "  %zu  %s\n", code, exit_table[code].meaning);
    }
}
