/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: one answer line written straight into a reused buffer, as jansson would print it. */
#ifndef VTPM_CLI_ANSWER_H
#define VTPM_CLI_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "trait.h"

/*
 * The text of one answer. What it writes is byte for byte what
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) prints for the same object,
 * without building one: vtpm-filter answers a line per request, and building
 * and freeing a json_t tree for each costs more than deciding it.
 */
typedef struct {
    char *text;
    size_t len, cap;
    bool bad; /* a string was not valid UTF-8: jansson would refuse it too */
} vtpm_answer;

void vtpm_answer_reset(vtpm_answer *a);
void vtpm_answer_clear(vtpm_answer *a);

/* Appends @len bytes as they are. */
void vtpm_answer_raw(vtpm_answer *a, const char *s, size_t len);
#define VTPM_ANSWER_LIT(a, lit) vtpm_answer_raw((a), (lit), sizeof(lit) - 1)

/* Appends @s as a JSON string, or null when @s is NULL. */
void vtpm_answer_string(vtpm_answer *a, const char *s);

/* Appends @value (any JSON value) compactly. */
void vtpm_answer_json(vtpm_answer *a, json_t *value);

/* Appends the names of the traits of @set as a JSON array. */
void vtpm_answer_traits(vtpm_answer *a, vtpm_traitset set);

#endif /* VTPM_CLI_ANSWER_H */
