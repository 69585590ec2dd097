/* SPDX-License-Identifier: Apache-2.0 */
/* What the vtpm-filter document harnesses (guard, host lines) check of one input. */
#ifndef VTPM_FUZZ_CLI_DOCUMENT_H
#define VTPM_FUZZ_CLI_DOCUMENT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli-priv.h"
#include "exit.h"
#include "fuzz.h"

/* The result line is one JSON object whose "result" is one of @results
 * (NULL-terminated); a refusal says why. Returns NULL or why it is not. */
static inline const char *
vtpm_fuzz_cli_check_line(const char *line, const char *const *results)
{
    json_t *doc = json_loads(line, 0, NULL);
    const char *result = json_string_value(json_object_get(doc, "result"));
    const char *why = "the result line is not a JSON object with a 'result'";
    size_t i;

    for (i = 0; result && results[i]; i++) {
        if (strcmp(result, results[i]) == 0)
            why = NULL;
    }
    if (!why && strcmp(result, "reject") == 0 &&
        !json_string_value(json_object_get(doc, "message")))
        why = "a reject without a message";
    json_decref(doc);
    return why;
}

/*
 * Runs one document through @doc and judges it: exactly one result line on the
 * output, a message on the error stream exactly when the input is refused as
 * bad input. The outcome is "ok RC LINE" or "error LINE".
 */
static inline bool
vtpm_fuzz_cli_document(vtpm_cli_doc *doc, const uint8_t *data, size_t size,
                       const char *const *results, char *out, size_t outlen)
{
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *o = open_memstream(&obuf, &olen), *e = open_memstream(&ebuf, &elen);
    const char *why = NULL;
    int rc;

    if (!doc || !o || !e)
        abort();
    rc = vtpm_cli_doc_run(doc, (const char *)data, size, o, e);
    fclose(o);
    fclose(e);
    out[0] = '\0';
    if (rc != VTPM_EXIT_OK && rc != VTPM_EXIT_REJECTED && rc != VTPM_EXIT_USAGE)
        why = "an exit code other than 0, 1 or 2";
    else if (olen == 0 || obuf[olen - 1] != '\n' || memchr(obuf, '\n', olen) != obuf + olen - 1)
        why = "not exactly one result line";
    else if ((rc == VTPM_EXIT_USAGE) != (elen > 0))
        why = "a message without bad input, or bad input without a message";
    else if (elen > 0 && memchr(ebuf, '\n', elen) != ebuf + elen - 1)
        why = "a message of more than one line";
    if (!why) {
        obuf[olen - 1] = '\0';
        why = vtpm_fuzz_cli_check_line(obuf, results);
    }
    if (!why && rc == VTPM_EXIT_USAGE)
        vtpm_fuzz_append(out, outlen, "error %s", obuf);
    else if (!why)
        vtpm_fuzz_append(out, outlen, "ok %d %s", rc, obuf);
    free(obuf);
    free(ebuf);
    return why ? vtpm_fuzz_invalid(out, outlen, why) : true;
}

#endif /* VTPM_FUZZ_CLI_DOCUMENT_H */
