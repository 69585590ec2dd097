/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of the filter library's objects, shared by its files and tests. */
#ifndef VTPM_SCHEDULER_FILTER_PRIV_H
#define VTPM_SCHEDULER_FILTER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vtpm/filter.h>

#include "trait.h"
#include "util.h"

/* Counts of the public enums, for this build only (see trait.h). */
#define VTPM_CODE_COUNT (VTPM_CODE_UNKNOWN_OPERATION + 1)
#define VTPM_OP_COUNT (VTPM_OP_UNKNOWN + 1)

/* The TPM keys a request can carry. */
typedef enum {
    VTPM_KEY_VERSION = 0,
    VTPM_KEY_MODEL = 1,
    VTPM_KEY_SECRET_SECURITY = 2,
    VTPM_KEY_LAST
} vtpm_key;

typedef enum {
    VTPM_SOURCE_FLAVOR = 0,
    VTPM_SOURCE_IMAGE = 1,
    VTPM_SOURCE_LAST
} vtpm_source;

/* A value stored in the request's arena; len 0 with set=true is "". */
typedef struct {
    bool set;
    /* For the outcome table, kept when the value is set so that translation
     * reads one number instead of branching on set, len and parsed: 0 when
     * unset or "", else parsed, or the key's invalid state (see below). */
    uint8_t state;
    int parsed; /* the value as its key's enum (vtpm_version, ...); 0: not valid */
    size_t off;
    size_t len;
} vtpm_slot;

struct vtpm_request {
    char *arena;              /* NUL-terminated strings, back to back */
    size_t used;
    size_t cap;
    vtpm_slot slots[VTPM_SOURCE_LAST][VTPM_KEY_LAST];
    /* The first unknown hw:tpm_* / hw_tpm_* key, for strict mode. */
    vtpm_slot unknown_key;
    vtpm_source unknown_source;
    unsigned int n_unknown;
};

#define VTPM_RESULT_MESSAGE_MAX 512

/*
 * The longest prefix of a value that a message can show: vtpm_quote() into
 * this many bytes never looks further, so quoting the prefix gives the same
 * text as quoting the whole value.
 */
#define VTPM_RESULT_VALUE_MAX 72

struct vtpm_result {
    bool accepted;
    vtpm_code code;
    vtpm_version version;
    vtpm_model model;
    vtpm_secret_security secret_security;
    vtpm_traitset required;
    /*
     * Formatting a message costs more than a whole translation, and a
     * scheduler seldom reads it: a translation's rejection keeps what its
     * message needs here, and vtpm_result_message() writes it on first use.
     */
    bool message_pending;
    vtpm_key pending_key;
    vtpm_source pending_source[2];
    char pending_value[2][VTPM_RESULT_VALUE_MAX + 1];
    char message[VTPM_RESULT_MESSAGE_MAX];
};

#define VTPM_FILTER_KNOWN_FLAGS (VTPM_FILTER_STRICT)

/*
 * Translation's outcome depends on a request only through the state of each
 * slot (unset or "", each valid value, invalid), whether two invalid values
 * of one key are the same string, and, in strict mode, whether an unknown
 * key is present. vtpm_filter_new() runs the rules once for every
 * combination and keeps what they conclude, so that the hot path is one
 * table lookup (see translate.c). The numbers below size that table.
 */
#define VTPM_SLOT_STATES 4 /* version or model: unset, two values, invalid */
#define VTPM_SLOT_INVALID (VTPM_SLOT_STATES - 1)
/* Flavor state x image state, plus two identical invalid strings. */
#define VTPM_PAIR_STATES (VTPM_SLOT_STATES * VTPM_SLOT_STATES + 1)
#define VTPM_PAIR_SAME_INVALID (VTPM_SLOT_STATES * VTPM_SLOT_STATES)
/* Secret security (flavor only): unset, three values, invalid. */
#define VTPM_SECRET_SECURITY_STATES 5
#define VTPM_OUTCOMES \
    (VTPM_PAIR_STATES * VTPM_PAIR_STATES * VTPM_SECRET_SECURITY_STATES * 2)

/* What the rules conclude for one combination of states. Bytes: the table
 * stays small (about 14 kB) and so mostly in cache. */
typedef struct {
    uint8_t code;            /* vtpm_code: VTPM_CODE_NONE means accepted */
    uint8_t version;         /* vtpm_version */
    uint8_t model;           /* vtpm_model */
    uint8_t secret_security; /* vtpm_secret_security */
    uint8_t required;        /* vtpm_traitset */
} vtpm_outcome;

struct vtpm_filter {
    vtpm_profile profile;
    unsigned int flags;
    char **override_roles;
    size_t n_override_roles;
    vtpm_outcome outcomes[VTPM_OUTCOMES]; /* see outcome_index() in translate.c */
};

/* Fills @filter->outcomes by running the rules under @filter's profile and
 * flags. Returns VTPM_OK or VTPM_ERR_NO_MEMORY. */
vtpm_status vtpm_filter_outcomes_build(vtpm_filter *filter);

/* Translation by the rules alone, without the table: what the table is
 * built from, and what tests compare it with. */
void vtpm_filter_translate_rules(const vtpm_filter *filter,
                                 const vtpm_request *req, vtpm_result *res);

/* The key name of @key as written in @source ("hw:tpm_model", "hw_tpm_model"). */
const char *vtpm_key_name(vtpm_source source, vtpm_key key);

/* The value of a slot, or NULL when unset or empty (Nova treats "" as unset). */
const char *vtpm_request_value(const vtpm_request *req, vtpm_source source,
                               vtpm_key key);

/* Sets @err (may be NULL) to @status with a formatted message. */
void vtpm_error_set(vtpm_error *err, vtpm_status status, int line, int column,
                    const char *fmt, ...) VTPM_PRINTF(5, 6);

/* Marks @res rejected with @code and a formatted message. */
void vtpm_result_reject(vtpm_result *res, vtpm_code code, const char *fmt, ...)
    VTPM_PRINTF(3, 4);

/* Marks @res accepted with no vTPM. Inline: translation starts with it. */
static inline void
vtpm_result_clear(vtpm_result *res)
{
    res->accepted = true;
    res->code = VTPM_CODE_NONE;
    res->version = VTPM_VERSION_NONE;
    res->model = VTPM_MODEL_NONE;
    res->secret_security = VTPM_SECRET_SECURITY_NONE;
    res->required = 0;
    res->message_pending = false;
    res->message[0] = '\0';
}

/* Writes the message of a rejection that translation left pending. */
void vtpm_translate_message_format(vtpm_result *res);

#endif /* VTPM_SCHEDULER_FILTER_PRIV_H */
