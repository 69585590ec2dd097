/* SPDX-License-Identifier: Apache-2.0 */
/* libvtpm-filter: vTPM request translation, host checks and operation guards. */
#ifndef VTPM_FILTER_H
#define VTPM_FILTER_H

#include <vtpm/traits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's exported API. */
#if defined(__GNUC__)
# pragma GCC visibility push(default)
#endif

/*
 * Thread safety: the library keeps no mutable global state. A vtpm_filter is
 * immutable once configured and may be shared by any number of threads; a
 * vtpm_request and a vtpm_result belong to one thread at a time.
 *
 * Ownership is stated for every function in the words of jansson: "returns a
 * new object" (the caller frees it with the named function), "returns a
 * borrowed pointer" (valid for as long as stated), "copies" (the library keeps
 * no pointer to the caller's memory).
 */

/* Status of a call. Append-only: values are never renumbered. */
typedef enum {
    VTPM_OK = 0,
    VTPM_ERR_INVALID_ARG = 1,  /* NULL where an object is required, bad enum */
    VTPM_ERR_NO_MEMORY = 2,    /* an allocation failed; nothing was changed */
    VTPM_ERR_BAD_INPUT = 3,    /* input could not be parsed (see vtpm_error) */
    VTPM_ERR_UNKNOWN_FLAGS = 4, /* a flags argument had bits this version lacks */
    VTPM_ERR_DATABASE = 5,     /* the database refused: no schema, no rights, login failed */
    VTPM_ERR_UNREACHABLE = 6   /* the database cannot be reached or the connection was lost */
} vtpm_status;

/* Returns a borrowed static string naming @status ("ok", "no_memory", ...). */
const char *vtpm_status_name(vtpm_status status) VTPM_ATTR_CONST;

/*
 * Optional, caller-allocated detail for a failed call. @line and @column are
 * 1-based positions in the input where the input has positions, else 0.
 */
typedef struct {
    vtpm_status status;
    int line;
    int column;
    char message[256];
} vtpm_error;

/* What Nova's vTPM support can be asked for. Values are ABI. */
typedef enum {
    VTPM_VERSION_NONE = 0,
    VTPM_VERSION_1_2 = 1,
    VTPM_VERSION_2_0 = 2
} vtpm_version;

typedef enum {
    VTPM_MODEL_NONE = 0,
    VTPM_MODEL_TIS = 1,
    VTPM_MODEL_CRB = 2
} vtpm_model;

typedef enum {
    VTPM_SECRET_SECURITY_NONE = 0,
    VTPM_SECRET_SECURITY_USER = 1,
    VTPM_SECRET_SECURITY_HOST = 2,
    VTPM_SECRET_SECURITY_DEPLOYMENT = 3
} vtpm_secret_security;

/* Borrowed static strings: "1.2", "tpm-crb", "host"; NULL for NONE. */
const char *vtpm_version_name(vtpm_version version) VTPM_ATTR_CONST;
const char *vtpm_model_name(vtpm_model model) VTPM_ATTR_CONST;
const char *vtpm_secret_security_name(vtpm_secret_security mode) VTPM_ATTR_CONST;

/*
 * Why a request or an operation was refused. Append-only. The name of each
 * code (vtpm_code_name) is the "code" of the CLI's JSON output.
 */
typedef enum {
    VTPM_CODE_NONE = 0,
    VTPM_CODE_FLAVOR_IMAGE_CONFLICT = 1,   /* "flavor_image_conflict" */
    VTPM_CODE_INVALID_VERSION = 2,         /* "invalid_version" */
    VTPM_CODE_INVALID_MODEL = 3,           /* "invalid_model" */
    VTPM_CODE_CRB_REQUIRES_2_0 = 4,        /* "crb_requires_2_0" */
    VTPM_CODE_INVALID_SECRET_SECURITY = 5, /* "invalid_secret_security" */
    /* strict mode only: what Nova silently ignores */
    VTPM_CODE_MODEL_WITHOUT_VERSION = 6,           /* "model_without_version" */
    VTPM_CODE_SECRET_SECURITY_WITHOUT_VERSION = 7, /* "secret_security_without_version" */
    VTPM_CODE_UNKNOWN_KEY = 8,                     /* "unknown_key" */
    /* operation guard */
    VTPM_CODE_OPERATION_UNSUPPORTED = 9,        /* "operation_unsupported" */
    VTPM_CODE_LIVE_MIGRATION_UNSUPPORTED = 10,  /* "live_migration_unsupported" */
    VTPM_CODE_RESIZE_DEPLOYMENT = 11,           /* "resize_secret_security_deployment" */
    VTPM_CODE_OWNER_ONLY = 12,                  /* "owner_only" */
    VTPM_CODE_UNKNOWN_OPERATION = 13,           /* "unknown_operation" */
    /* append new codes here; there is no count: it would change each release */
} vtpm_code;

/* Returns a borrowed static string naming @code, or NULL when out of range. */
const char *vtpm_code_name(vtpm_code code) VTPM_ATTR_CONST;

/* ------------------------------------------------------------------------ */
/* Filter: the immutable configuration shared by every call.                */

typedef struct vtpm_filter vtpm_filter;

typedef enum {
    /* Nova 2025.2 and later: version, model and secret-security traits. */
    VTPM_PROFILE_CURRENT = 0,
    /* Nova Zed: only the version trait; secret security is ignored. */
    VTPM_PROFILE_LEGACY = 1
} vtpm_profile;

/* Returns VTPM_OK and sets @profile for "current" or "legacy". */
vtpm_status vtpm_profile_from_name(const char *name, vtpm_profile *profile);

/* Flags for vtpm_filter_new(). */
enum {
    /* Also refuse what Nova silently ignores: a model or secret security
     * without a version, and unknown hw:tpm_* / hw_tpm_* keys. */
    VTPM_FILTER_STRICT = 1u << 0
};

/*
 * Returns a new filter (free with vtpm_filter_free), or NULL with @err set
 * (VTPM_ERR_UNKNOWN_FLAGS, VTPM_ERR_INVALID_ARG, VTPM_ERR_NO_MEMORY). @err may
 * be NULL. Decides every kind of request once, up front (under a
 * millisecond), so that translating one is a table lookup: create a filter
 * once and share it, not one per request.
 */
vtpm_filter *vtpm_filter_new(vtpm_profile profile, unsigned int flags,
                             vtpm_error *err) VTPM_ATTR_WARN_UNUSED;

/* Frees @filter. Accepts NULL. */
void vtpm_filter_free(vtpm_filter *filter);

vtpm_profile vtpm_filter_profile(const vtpm_filter *filter) VTPM_ATTR_PURE;
unsigned int vtpm_filter_flags(const vtpm_filter *filter) VTPM_ATTR_PURE;

/*
 * Names a role that lets a requester act on a server with "user" secret
 * security that is not theirs (the caller's policy decides which role that
 * is, e.g. "admin"). Copies @role. Not thread-safe against concurrent use of
 * the same filter: configure before sharing.
 */
vtpm_status vtpm_filter_add_owner_override_role(vtpm_filter *filter,
                                                const char *role)
    VTPM_ATTR_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Request: the flavor extra specs and image properties of one request.     */

typedef struct vtpm_request vtpm_request;

/* Returns a new, empty request (free with vtpm_request_free), or NULL. */
vtpm_request *vtpm_request_new(void) VTPM_ATTR_WARN_UNUSED;

/* Frees @req. Accepts NULL. */
void vtpm_request_free(vtpm_request *req);

/*
 * Empties @req for reuse. Keeps its memory, so a request that is reset and
 * refilled for every scheduling call stops allocating after the first few.
 */
void vtpm_request_reset(vtpm_request *req);

/*
 * Records one flavor extra spec or one image property. Copies @key and
 * @value. Keys that are not TPM keys (anything but "hw:tpm_*" in a flavor or
 * "hw_tpm_*" in an image) are ignored and cost nothing; a key set twice keeps
 * the last value. @value may be NULL, which means "not set".
 */
vtpm_status vtpm_request_set_flavor_spec(vtpm_request *req, const char *key,
                                         const char *value)
    VTPM_ATTR_WARN_UNUSED;
vtpm_status vtpm_request_set_image_property(vtpm_request *req, const char *key,
                                            const char *value)
    VTPM_ATTR_WARN_UNUSED;

/*
 * Fills @req from the JSON text of a request, the CLI's input format:
 *   {"flavor": {"name": "...", "extra_specs": {"hw:tpm_version": "2.0"}},
 *    "image": {"name": "...", "properties": {"hw_tpm_model": "tpm-crb"}}}
 * Either part may be missing or null. @req is reset first. Extra spec and
 * property values must be strings (or null, meaning not set); any other type
 * for a TPM key, a document that is not an object, or text that is not JSON
 * gives VTPM_ERR_BAD_INPUT with line, column and message in @err. Values of
 * other keys are not looked at: a number there may be any valid JSON number,
 * even one beyond a double or a 64-bit integer (1e400). @len is the
 * length of @json, which need not be NUL-terminated.
 */
vtpm_status vtpm_request_parse_json(vtpm_request *req, const char *json,
                                    size_t len, vtpm_error *err)
    VTPM_ATTR_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Result of a translation or a guard.                                      */

typedef struct vtpm_result vtpm_result;

/* Returns a new result (free with vtpm_result_free), or NULL. */
vtpm_result *vtpm_result_new(void) VTPM_ATTR_WARN_UNUSED;

/* Frees @res. Accepts NULL. */
void vtpm_result_free(vtpm_result *res);

/* True when the request was accepted or the operation allowed. */
bool vtpm_result_accepted(const vtpm_result *res) VTPM_ATTR_PURE;

/* VTPM_CODE_NONE when accepted, else why not. */
vtpm_code vtpm_result_code(const vtpm_result *res) VTPM_ATTR_PURE;

/*
 * Returns a borrowed one-line message naming the keys and values involved
 * ("" when accepted), valid until @res is used again or freed. A rejection's
 * message is written on the first call (translation does not spend time on
 * it), so this is not a pure function.
 */
const char *vtpm_result_message(const vtpm_result *res);

/* The accepted vTPM configuration; VTPM_VERSION_NONE means no vTPM. */
vtpm_version vtpm_result_version(const vtpm_result *res) VTPM_ATTR_PURE;
vtpm_model vtpm_result_model(const vtpm_result *res) VTPM_ATTR_PURE;
/* VTPM_SECRET_SECURITY_NONE under the legacy profile or without a vTPM. */
vtpm_secret_security vtpm_result_secret_security(const vtpm_result *res)
    VTPM_ATTR_PURE;

/* The traits a host must have (empty when no vTPM or rejected). */
vtpm_traitset vtpm_result_required_traits(const vtpm_result *res) VTPM_ATTR_PURE;

/* ------------------------------------------------------------------------ */
/* Translation and host checks: the hot path. No allocation, no strings.    */

/*
 * Translates @req under @filter's profile and flags into @res, Nova's rules
 * in Nova's order. Returns VTPM_OK whether the request was accepted or
 * rejected (see vtpm_result_accepted); VTPM_ERR_INVALID_ARG for NULLs. Does
 * not allocate.
 */
vtpm_status vtpm_filter_translate(const vtpm_filter *filter,
                                  const vtpm_request *req, vtpm_result *res);

/*
 * The same decision as vtpm_filter_translate, in one call and without a
 * result object: what a scheduler needs per request. Returns true when @req
 * is accepted under @filter's profile and flags; *@required then receives
 * the traits a host must have (0 when no vTPM is requested) and *@code
 * VTPM_CODE_NONE. When @req is rejected it returns false, *@required
 * receives 0 and *@code the reason. Agrees exactly with
 * vtpm_filter_translate (accepted, code, required traits); for the message,
 * version, model or secret security, call vtpm_filter_translate. @required
 * and @code may be NULL. A NULL @filter or @req returns false with
 * VTPM_CODE_NONE (no decision). Writes only *@required and *@code: any
 * number of threads may call it with the same filter, each with a request
 * of its own. Does not allocate.
 */
bool vtpm_filter_required_traits(const vtpm_filter *filter,
                                 const vtpm_request *req,
                                 vtpm_traitset *required, vtpm_code *code);

/*
 * True when a host with @host_traits has every trait in @required. When it
 * does not and @missing is not NULL, *@missing receives the missing traits.
 */
static inline bool
vtpm_host_passes(vtpm_traitset required, vtpm_traitset host_traits,
                 vtpm_traitset *missing)
{
    vtpm_traitset lack = required & ~host_traits;

    if (missing)
        *missing = lack;
    return lack == 0;
}

/* The same check, exported for callers that cannot use inline functions. */
bool vtpm_host_check(vtpm_traitset required, vtpm_traitset host_traits,
                     vtpm_traitset *missing);

/*
 * Batch host check. Writes the indexes of the hosts in @hosts[0..@n) that
 * have every trait in @required to @passing (room for @n entries, in input
 * order) and returns how many there are.
 */
size_t vtpm_hosts_filter(vtpm_traitset required, const vtpm_traitset *hosts,
                         size_t n, size_t *passing);

/* ------------------------------------------------------------------------ */
/* Operation guard.                                                          */

typedef enum {
    VTPM_OP_OTHER = 0,         /* a known operation with no vTPM rule (start, reboot, ...) */
    VTPM_OP_REBUILD = 1,
    VTPM_OP_SHELVE = 2,
    VTPM_OP_RESCUE = 3,
    VTPM_OP_EVACUATE = 4,
    VTPM_OP_LIVE_MIGRATE = 5,
    VTPM_OP_RESIZE = 6,
    VTPM_OP_COLD_MIGRATE = 7,
    VTPM_OP_UNKNOWN = 8,       /* a name the guard does not know: refused */
    /* append new operations here; there is no count: it would change each release */
} vtpm_operation;

/*
 * Maps "rebuild", "shelve", "rescue", "evacuate", "live-migrate", "resize",
 * "cold-migrate" to their value; the operations that need no vTPM rule
 * ("start", "stop", "reboot", "pause", "unpause", "suspend", "resume",
 * "lock", "unlock", "snapshot", "delete") to VTPM_OP_OTHER; any other name
 * (another case, blanks, "", NULL) to VTPM_OP_UNKNOWN, which the guard
 * refuses. Names are exact.
 */
vtpm_operation vtpm_operation_from_name(const char *name) VTPM_ATTR_PURE;
/* Borrowed static name, "other" for VTPM_OP_OTHER, "unknown" for
 * VTPM_OP_UNKNOWN, NULL when out of range. */
const char *vtpm_operation_name(vtpm_operation op) VTPM_ATTR_CONST;

/*
 * Who asks for an operation, and on what. All pointers are borrowed for the
 * duration of the call only. @roles holds @n_roles role names.
 */
typedef struct {
    const vtpm_request *instance;   /* the server's flavor and image */
    const char *owner;              /* the server's owner (user id) */
    vtpm_operation operation;
    const vtpm_request *new_flavor; /* resize only: the new flavor and image */
    const char *requester;          /* who asks (user id) */
    const char *const *roles;       /* the requester's roles */
    size_t n_roles;
} vtpm_guard_request;

/*
 * Decides whether the operation in @greq may run on a server with a vTPM:
 * rebuild, shelve, rescue and evacuate are refused; live migration only with
 * "host" secret security; resize to or from "deployment" from another mode is
 * refused; with "user" secret security only the owner (or a requester with an
 * owner-override role) may act. VTPM_OP_UNKNOWN is refused
 * (VTPM_CODE_UNKNOWN_OPERATION) whatever the server: what the guard cannot
 * classify does not run. Otherwise a server without a vTPM is never refused. If
 * the server's own request does not translate, that rejection is the answer.
 * Returns VTPM_OK whatever the decision (see vtpm_result_accepted), or
 * VTPM_ERR_INVALID_ARG (NULL filter, request, instance or result; resize
 * without new_flavor).
 */
vtpm_status vtpm_filter_guard(const vtpm_filter *filter,
                              const vtpm_guard_request *greq, vtpm_result *res);

/* The library's version string, e.g. "0.1.0". Borrowed, static. */
const char *vtpm_filter_version(void) VTPM_ATTR_CONST;

#if defined(__GNUC__)
# pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* VTPM_FILTER_H */
