/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: the command line over libvtpm-filter (check, host, guard, candidates). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <vtpm/filter.h>

#include "alloc.h"
#include "answer.h"
#include "cli.h"
#include "cli-priv.h"
#include "cli_inventory.h"
#include "exit.h"
#include "file.h"
#include "json_arena.h"
#include "line_reader.h"
#include "request_json-priv.h"
#include "trait.h"
#include "util.h"
#include "vtpm-config.h"

/* Whole-document input larger than this is refused rather than buffered. */
#define CLI_INPUT_MAX ((size_t)64 << 20)

/* candidates: how many uuids a result lists by default (Nova's
 * max_placement_results). */
#define CLI_CANDIDATES_MAX_DEFAULT 1000

/* What one document turned into. */
typedef enum {
    OUTCOME_ACCEPT,
    OUTCOME_REJECT,
    OUTCOME_BAD_INPUT,
} cli_outcome;

typedef struct {
    FILE *out;
    FILE *err;
    const char *prog;
    vtpm_filter *filter;
    vtpm_request *req;
    vtpm_request *req2;
    vtpm_result *res;
    bool jsonl;
    /* host command */
    vtpm_traitset host_traits;
    bool have_host_traits;
    const char *hosts_path;
    unsigned long hosts_passed;
    /* candidates command */
    const char *dsn;
    size_t max_candidates;
    bool max_given;
    vtpm_cli_inventory *inventory;
    bool inventory_failed;
    vtpm_error inventory_error;
    /* output: the errno of the first write that failed, or 0 */
    int write_error;
    /* the answer being written, when a handler writes it directly */
    vtpm_answer answer;
} cli_ctx;

typedef cli_outcome (*cli_handler)(cli_ctx *ctx, json_t *doc, json_t **out);

static const char usage_head[] =
    "Usage: %s COMMAND [OPTIONS] [FILE]\n"
    "\n"
    "Translate vTPM requests (flavor extra specs + image properties) the way\n"
    "OpenStack Nova does, check hosts against them, and guard operations.\n"
    "FILE is read, or standard input when FILE is absent or '-'.\n"
    "\n"
    "Commands:\n";

static const char usage_tail[] =
    "\n"
    "Options:\n"
    "  --profile current|legacy  current (default): version, model and\n"
    "                            secret-security traits; legacy (Nova Zed):\n"
    "                            only the version trait\n"
    "  --strict                  also refuse what Nova silently ignores\n"
    "  --jsonl                   one JSON document per input line (check, guard,\n"
    "                            candidates)\n"
    "  --traits LIST             host: the host's traits, comma-separated\n"
    "  --hosts FILE              host: one {\"name\":..,\"traits\":[..]} per line\n"
    "  --dsn DSN                 candidates: the inventory's libpq connection\n"
    "                            string (default: $VTPM_DSN, then libpq's PG*\n"
    "                            environment); a vtpm_reader login is enough\n"
    "  --max N                   candidates: list at most N uuids (default 1000;\n"
    "                            the count is always of all of them)\n"
    "  --override-role ROLE      guard: a role that may act on another user's\n"
    "                            server with 'user' secret security (repeatable)\n"
    "  -h, --help                show this help\n"
    "  -V, --version             show the version\n"
    "\n"
    "Examples:\n"
    "  echo '{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\","
    "\"hw:tpm_model\":\"tpm-crb\"}}}' \\\n"
    "    | %s check\n"
    "  {\"result\":\"accept\",\"vtpm\":{\"version\":\"2.0\",\"model\":\"tpm-crb\","
    "\"secret_security\":\"user\"},\"required_traits\":[...]}\n"
    "\n"
    "  echo '{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\"}}}' \\\n"
    "    | %s host --traits COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_TIS\n"
    "  {\"result\":\"fail\",\"required_traits\":[...],\"missing_traits\":"
    "[\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER\"]}\n"
    "\n"
    "  echo '{\"instance\":{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":"
    "\"2.0\"}},\"owner\":\"alice\"},\n"
    "        \"operation\":\"live-migrate\",\"requester\":{\"user\":\"alice\"}}' "
    "| %s guard\n"
    "  {\"result\":\"refuse\",\"code\":\"live_migration_unsupported\",...}\n"
    "\n";

static void VTPM_PRINTF(2, 3)
cli_fail(cli_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vtpm_vstrfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(ctx->err, "%s: %s\n", ctx->prog, msg);
}

static json_t *
traits_to_json(vtpm_traitset set)
{
    json_t *arr = VTPM_ALLOC_CHECK(json_array());
    int t;

    for (t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if ((set & VTPM_TRAITSET_BIT(t)) &&
            json_array_append_new(arr, VTPM_ALLOC_CHECK(json_string(
                                      vtpm_trait_name((vtpm_trait)t)))) < 0)
            vtpm_alloc_abort();
    }
    return arr;
}

static json_t *
str_or_null(const char *s)
{
    return VTPM_ALLOC_CHECK(s ? json_string(s) : json_null());
}

/* {"result":"reject","code":..,"message":..} */
static json_t *
reject_json(const char *code, const char *message)
{
    return VTPM_ALLOC_CHECK(json_pack("{s:s, s:s, s:s}", "result", "reject", "code", code,
                                      "message", message));
}

static json_t *
result_to_json(const vtpm_result *res)
{
    json_t *vtpm;

    if (!vtpm_result_accepted(res))
        return reject_json(vtpm_code_name(vtpm_result_code(res)),
                           vtpm_result_message(res));
    if (vtpm_result_version(res) == VTPM_VERSION_NONE) {
        vtpm = json_null();
    } else {
        vtpm = VTPM_ALLOC_CHECK(json_pack(
            "{s:o, s:o, s:o}",
            "version", str_or_null(vtpm_version_name(vtpm_result_version(res))),
            "model", str_or_null(vtpm_model_name(vtpm_result_model(res))),
            "secret_security",
            str_or_null(vtpm_secret_security_name(vtpm_result_secret_security(res)))));
    }
    return VTPM_ALLOC_CHECK(json_pack(
        "{s:s, s:o, s:o}", "result", "accept", "vtpm", vtpm,
        "required_traits", traits_to_json(vtpm_result_required_traits(res))));
}

static cli_outcome
bad_input(json_t **out, const char *message)
{
    *out = reject_json("bad_input", message);
    return OUTCOME_BAD_INPUT;
}

/* Fills ctx->req from @doc and translates it into ctx->res. */
static cli_outcome
cli_translate(cli_ctx *ctx, json_t *doc, json_t **out)
{
    vtpm_error verr = { 0 };
    vtpm_status st;

    st = vtpm_request_parse_json_value(ctx->req, doc, &verr);
    if (st != VTPM_OK)
        return bad_input(out, verr.message);
    st = vtpm_filter_translate(ctx->filter, ctx->req, ctx->res);
    if (st != VTPM_OK)
        return bad_input(out, vtpm_status_name(st));
    return vtpm_result_accepted(ctx->res) ? OUTCOME_ACCEPT : OUTCOME_REJECT;
}

/* Starts ctx->answer: "{", and the "id" of @doc if it has one. */
static void
cli_answer_open(cli_ctx *ctx, json_t *doc)
{
    json_t *id = json_is_object(doc) ? json_object_get(doc, "id") : NULL;

    vtpm_answer_reset(&ctx->answer);
    VTPM_ANSWER_LIT(&ctx->answer, "{");
    if (id) {
        VTPM_ANSWER_LIT(&ctx->answer, "\"id\":");
        vtpm_answer_json(&ctx->answer, id);
        VTPM_ANSWER_LIT(&ctx->answer, ",");
    }
}

/* Ends ctx->answer; false when it could not be written as jansson would
 * (a string that is not UTF-8): the caller then builds the answer as a
 * json_t, which fails the same way it always did. */
static bool
cli_answer_close(cli_ctx *ctx)
{
    VTPM_ANSWER_LIT(&ctx->answer, "}\n");
    return !ctx->answer.bad;
}

/* Writes result_to_json(ctx->res), with the id of @doc, into ctx->answer. */
static bool
cli_answer_result(cli_ctx *ctx, json_t *doc)
{
    vtpm_answer *a = &ctx->answer;
    const vtpm_result *res = ctx->res;

    cli_answer_open(ctx, doc);
    if (!vtpm_result_accepted(res)) {
        VTPM_ANSWER_LIT(a, "\"result\":\"reject\",\"code\":");
        vtpm_answer_string(a, vtpm_code_name(vtpm_result_code(res)));
        VTPM_ANSWER_LIT(a, ",\"message\":");
        vtpm_answer_string(a, vtpm_result_message(res));
        return cli_answer_close(ctx);
    }
    VTPM_ANSWER_LIT(a, "\"result\":\"accept\",\"vtpm\":");
    if (vtpm_result_version(res) == VTPM_VERSION_NONE) {
        VTPM_ANSWER_LIT(a, "null");
    } else {
        VTPM_ANSWER_LIT(a, "{\"version\":");
        vtpm_answer_string(a, vtpm_version_name(vtpm_result_version(res)));
        VTPM_ANSWER_LIT(a, ",\"model\":");
        vtpm_answer_string(a, vtpm_model_name(vtpm_result_model(res)));
        VTPM_ANSWER_LIT(a, ",\"secret_security\":");
        vtpm_answer_string(a, vtpm_secret_security_name(vtpm_result_secret_security(res)));
        VTPM_ANSWER_LIT(a, "}");
    }
    VTPM_ANSWER_LIT(a, ",\"required_traits\":");
    vtpm_answer_traits(a, vtpm_result_required_traits(res));
    return cli_answer_close(ctx);
}

/* Answers directly in ctx->answer and leaves *@out NULL, unless the answer
 * is bad_input or cannot be written that way. */
static cli_outcome
handle_check(cli_ctx *ctx, json_t *doc, json_t **out)
{
    cli_outcome o = cli_translate(ctx, doc, out);

    if (o != OUTCOME_BAD_INPUT && !cli_answer_result(ctx, doc))
        *out = result_to_json(ctx->res);
    return o;
}

/* Reads a JSON array of trait names; unknown names are not ours and ignored. */
static bool
traits_from_json(json_t *arr, vtpm_traitset *set, char *why, size_t whylen)
{
    size_t i;
    json_t *v;

    *set = 0;
    if (!json_is_array(arr)) {
        vtpm_strfmt(why, whylen, "'traits' must be an array of strings");
        return false;
    }
    json_array_foreach(arr, i, v) {
        int t;

        if (!json_is_string(v)) {
            vtpm_strfmt(why, whylen, "'traits' element %zu is not a string", i);
            return false;
        }
        t = vtpm_trait_from_name(json_string_value(v));
        if (t >= 0)
            *set |= VTPM_TRAITSET_BIT(t);
    }
    return true;
}

/* Sets @key of @obj to @value (a new reference), or aborts: jansson fails only
 * when memory runs out here. */
static void
cli_object_set(json_t *obj, const char *key, json_t *value)
{
    if (json_object_set_new(obj, key, value) < 0)
        vtpm_alloc_abort();
}

static json_t *
host_verdict_json(const char *name, vtpm_traitset required, vtpm_traitset host)
{
    vtpm_traitset missing;
    bool pass = vtpm_host_passes(required, host, &missing);
    json_t *o = VTPM_ALLOC_CHECK(json_object());

    if (name)
        cli_object_set(o, "host", VTPM_ALLOC_CHECK(json_string(name)));
    cli_object_set(o, "result", VTPM_ALLOC_CHECK(json_string(pass ? "pass" : "fail")));
    cli_object_set(o, "required_traits", traits_to_json(required));
    cli_object_set(o, "missing_traits", traits_to_json(missing));
    return o;
}

/* Writes host_verdict_json(), with the id of @doc, into ctx->answer. */
static bool
cli_answer_host(cli_ctx *ctx, json_t *doc, const char *name, vtpm_traitset required,
                vtpm_traitset host)
{
    vtpm_answer *a = &ctx->answer;
    vtpm_traitset missing;
    bool pass = vtpm_host_passes(required, host, &missing);

    cli_answer_open(ctx, doc);
    if (name) {
        VTPM_ANSWER_LIT(a, "\"host\":");
        vtpm_answer_string(a, name);
        VTPM_ANSWER_LIT(a, ",");
    }
    if (pass)
        VTPM_ANSWER_LIT(a, "\"result\":\"pass\",\"required_traits\":");
    else
        VTPM_ANSWER_LIT(a, "\"result\":\"fail\",\"required_traits\":");
    vtpm_answer_traits(a, required);
    VTPM_ANSWER_LIT(a, ",\"missing_traits\":");
    vtpm_answer_traits(a, missing);
    return cli_answer_close(ctx);
}

/* One line of --hosts: {"name":..,"traits":[..]} against the translated request. */
static cli_outcome
handle_host_line(cli_ctx *ctx, json_t *doc, json_t **out)
{
    vtpm_traitset host;
    json_t *name;
    char why[128];

    if (!json_is_object(doc))
        return bad_input(out, "a host must be a JSON object {\"name\":..,\"traits\":[..]}");
    name = json_object_get(doc, "name");
    if (name && !json_is_string(name))
        return bad_input(out, "'name' must be a string");
    if (!traits_from_json(json_object_get(doc, "traits"), &host, why, sizeof(why)))
        return bad_input(out, why);
    if (!cli_answer_host(ctx, doc, name ? json_string_value(name) : NULL,
                         vtpm_result_required_traits(ctx->res), host))
        *out = host_verdict_json(name ? json_string_value(name) : NULL,
                                 vtpm_result_required_traits(ctx->res), host);
    if (!vtpm_host_passes(vtpm_result_required_traits(ctx->res), host, NULL))
        return OUTCOME_REJECT;
    ctx->hosts_passed++;
    return OUTCOME_ACCEPT;
}

static cli_outcome
handle_host(cli_ctx *ctx, json_t *doc, json_t **out)
{
    cli_outcome o = cli_translate(ctx, doc, out);

    if (o == OUTCOME_BAD_INPUT)
        return o;
    if (o == OUTCOME_REJECT) {
        *out = result_to_json(ctx->res);
        return o;
    }
    *out = host_verdict_json(NULL, vtpm_result_required_traits(ctx->res),
                             ctx->host_traits);
    return vtpm_host_passes(vtpm_result_required_traits(ctx->res),
                            ctx->host_traits, NULL)
        ? OUTCOME_ACCEPT : OUTCOME_REJECT;
}

/* candidates: why there is no answer, as a result line. */
static cli_outcome
inventory_error(cli_ctx *ctx, json_t **out)
{
    json_decref(*out);
    *out = VTPM_ALLOC_CHECK(json_pack("{s:s, s:s, s:s}", "result", "error",
                                      "code", "inventory_unavailable",
                                      "message", ctx->inventory_error.message));
    return OUTCOME_REJECT;
}

/* candidates: the inventory's hosts that have what the request requires. */
static cli_outcome
handle_candidates(cli_ctx *ctx, json_t *doc, json_t **out)
{
    cli_outcome o = cli_translate(ctx, doc, out);
    json_t *found;

    if (o == OUTCOME_BAD_INPUT)
        return o;
    *out = result_to_json(ctx->res);
    if (o == OUTCOME_REJECT)
        return o;
    if (ctx->inventory_failed)
        return inventory_error(ctx, out);
    if (!ctx->inventory) {
        ctx->inventory = vtpm_cli_inventory_open(ctx->dsn, &ctx->inventory_error);
        if (!ctx->inventory) {
            ctx->inventory_failed = true;
            cli_fail(ctx, "candidates: %s", ctx->inventory_error.message);
            return inventory_error(ctx, out);
        }
    }
    found = vtpm_cli_inventory_candidates(ctx->inventory, vtpm_result_required_traits(ctx->res),
                                          ctx->max_candidates, &ctx->inventory_error);
    if (!found) {
        ctx->inventory_failed = true;
        cli_fail(ctx, "candidates: %s", ctx->inventory_error.message);
        return inventory_error(ctx, out);
    }
    if (json_object_update(*out, found) < 0)
        vtpm_alloc_abort();
    o = json_integer_value(json_object_get(found, "count")) > 0 ? OUTCOME_ACCEPT : OUTCOME_REJECT;
    json_decref(found);
    return o;
}

static bool
json_opt_string(json_t *obj, const char *key, const char **value)
{
    json_t *v = json_object_get(obj, key);

    *value = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    *value = json_string_value(v);
    return true;
}

/* Parses {"flavor": @flavor, "image": @image} into @req. */
static bool
guard_parse_request(vtpm_request *req, json_t *flavor, json_t *image, vtpm_error *verr)
{
    json_t *request = VTPM_ALLOC_CHECK(json_pack("{s:O?, s:O?}", "flavor", flavor,
                                                 "image", image));
    vtpm_status st = vtpm_request_parse_json_value(req, request, verr);

    json_decref(request);
    return st == VTPM_OK;
}

/* Fills the requester of @greq from @requester (may be NULL); the roles point
 * into @roles_buf. Returns why @requester is malformed, or NULL. */
static const char *
guard_parse_requester(json_t *requester, vtpm_guard_request *greq, const char **roles_buf,
                      size_t roles_max)
{
    json_t *roles, *v;
    size_t i;

    if (!requester)
        return NULL;
    if (!json_is_object(requester))
        return "'requester' must be an object with 'user' and 'roles'";
    if (!json_opt_string(requester, "user", &greq->requester))
        return "'requester.user' must be a string";
    roles = json_object_get(requester, "roles");
    if (roles && !json_is_array(roles))
        return "'requester.roles' must be an array of strings";
    if (json_array_size(roles) > roles_max)
        return "'requester.roles' has too many entries";
    json_array_foreach(roles, i, v) {
        if (!json_is_string(v))
            return "'requester.roles' must be an array of strings";
        roles_buf[i] = json_string_value(v);
    }
    greq->roles = roles_buf;
    greq->n_roles = json_array_size(roles);
    return NULL;
}

/* Runs the guard on @greq and says allow or refuse. */
static cli_outcome
guard_decide(cli_ctx *ctx, const vtpm_guard_request *greq, json_t **out)
{
    vtpm_status st = vtpm_filter_guard(ctx->filter, greq, ctx->res);

    if (st != VTPM_OK)
        return bad_input(out, vtpm_status_name(st));
    if (vtpm_result_accepted(ctx->res)) {
        *out = VTPM_ALLOC_CHECK(json_pack("{s:s, s:s}", "result", "allow", "operation",
                                          vtpm_operation_name(greq->operation)));
        return OUTCOME_ACCEPT;
    }
    *out = VTPM_ALLOC_CHECK(json_pack("{s:s, s:s, s:s}", "result", "refuse", "code",
                                      vtpm_code_name(vtpm_result_code(ctx->res)), "message",
                                      vtpm_result_message(ctx->res)));
    return OUTCOME_REJECT;
}

/* A member of a guard request and the members it may hold (NULL: any). */
typedef struct {
    const char *what;
    const char *const *members;
    const char *expected;
} guard_shape;

static const char *const guard_top_members[] = {
    "instance", "operation", "new_flavor", "requester", "id", NULL };
static const char *const guard_instance_members[] = { "flavor", "image", "owner", NULL };
static const char *const guard_requester_members[] = { "user", "roles", NULL };

/* Says in @why which member of @obj @shape does not list: a misspelt
 * "flavour" or "role" would make a vTPM server look like a plain one. */
static bool
guard_members_known(json_t *obj, const guard_shape *shape, char *why, size_t whylen)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        size_t i;
        bool known = false;
        char q[72];

        for (i = 0; shape->members[i] && !known; i++)
            known = strcmp(key, shape->members[i]) == 0;
        if (!known) {
            vtpm_strfmt(why, whylen, "unknown member %s in %s (expected %s)",
                        vtpm_quote(q, sizeof(q), key), shape->what, shape->expected);
            return false;
        }
    }
    return true;
}

/* Checks the shape of a guard request @doc: every member known, the
 * 'instance' an object. Says in @why what is wrong. */
static bool
guard_check_shape(json_t *doc, char *why, size_t whylen)
{
    static const guard_shape top = { "guard request", guard_top_members,
                                     "'instance', 'operation', 'new_flavor', 'requester', 'id'" };
    static const guard_shape instance = { "'instance'", guard_instance_members,
                                          "'flavor', 'image', 'owner'" };
    static const guard_shape requester = { "'requester'", guard_requester_members,
                                           "'user', 'roles'" };
    json_t *req = json_object_get(doc, "requester");

    if (!json_is_object(doc)) {
        vtpm_strfmt(why, whylen, "a guard request must be a JSON object");
        return false;
    }
    if (!guard_members_known(doc, &top, why, whylen))
        return false;
    if (!json_is_object(json_object_get(doc, "instance"))) {
        vtpm_strfmt(why, whylen, "'instance' must be an object with 'flavor', 'image', 'owner'");
        return false;
    }
    if (!guard_members_known(json_object_get(doc, "instance"), &instance, why, whylen))
        return false;
    return !json_is_object(req) || guard_members_known(req, &requester, why, whylen);
}

static cli_outcome
handle_guard(cli_ctx *ctx, json_t *doc, json_t **out)
{
    vtpm_guard_request greq = { 0 };
    const char *roles_buf[64];
    json_t *instance, *image, *new_flavor;
    const char *op_name, *why;
    vtpm_error verr = { 0 };
    char shape_why[256];

    if (!guard_check_shape(doc, shape_why, sizeof(shape_why)))
        return bad_input(out, shape_why);
    instance = json_object_get(doc, "instance");
    if (!json_opt_string(doc, "operation", &op_name) || !op_name)
        return bad_input(out, "'operation' must be a string");
    if (!json_opt_string(instance, "owner", &greq.owner))
        return bad_input(out, "'instance.owner' must be a string");

    /* The instance's own request: its flavor and image. */
    image = json_object_get(instance, "image");
    if (!guard_parse_request(ctx->req, json_object_get(instance, "flavor"), image, &verr))
        return bad_input(out, verr.message);
    greq.instance = ctx->req;

    greq.operation = vtpm_operation_from_name(op_name);
    new_flavor = json_object_get(doc, "new_flavor");
    if (greq.operation == VTPM_OP_RESIZE) {
        if (!json_is_object(new_flavor))
            return bad_input(out, "operation 'resize' needs 'new_flavor', an object");
        /* A resize keeps the image and changes the flavor. */
        if (!guard_parse_request(ctx->req2, new_flavor, image, &verr))
            return bad_input(out, verr.message);
        greq.new_flavor = ctx->req2;
    }

    why = guard_parse_requester(json_object_get(doc, "requester"), &greq, roles_buf,
                                VTPM_N_ELEMENTS(roles_buf));
    if (why)
        return bad_input(out, why);
    return guard_decide(ctx, &greq, out);
}

/* Notes the first failed write: the run stops and says why. */
static void
cli_write_failed(cli_ctx *ctx, int err)
{
    if (ctx->write_error)
        return;
    ctx->write_error = err ? err : EIO;
    cli_fail(ctx, "cannot write output: %s", strerror(ctx->write_error));
}

/* Sends the answers so far, so that a peer waiting for them gets them. */
static void
cli_flush(cli_ctx *ctx)
{
    if (fflush(ctx->out) != 0)
        cli_write_failed(ctx, errno);
}

static void
cli_flush_cb(void *opaque)
{
    cli_flush(opaque);
}

/* Prints @obj compactly on one line (the contract's format). Through
 * ctx->answer, not json_dumps: while the line's arena is in use, what
 * jansson allocates must not reach free(). */
static void
cli_print(cli_ctx *ctx, json_t *obj)
{
    vtpm_answer_reset(&ctx->answer);
    vtpm_answer_json(&ctx->answer, obj);
    /* jansson fails to print a tree it built only when memory runs out. */
    if (ctx->answer.bad)
        vtpm_alloc_abort();
    VTPM_ANSWER_LIT(&ctx->answer, "\n");
    if (fwrite(ctx->answer.text, 1, ctx->answer.len, ctx->out) != ctx->answer.len)
        cli_write_failed(ctx, errno);
}

/* Carries the "id" of the input, if any, into the output. */
static json_t *
cli_with_id(json_t *doc, json_t *result)
{
    json_t *id = json_is_object(doc) ? json_object_get(doc, "id") : NULL;
    json_t *o;

    if (!id)
        return result;
    o = VTPM_ALLOC_CHECK(json_object());
    if (json_object_set(o, "id", id) < 0 || json_object_update(o, result) < 0)
        vtpm_alloc_abort();
    json_decref(result);
    return o;
}

static int
worst(int a, cli_outcome o)
{
    int b = o == OUTCOME_ACCEPT ? VTPM_EXIT_OK
          : o == OUTCOME_REJECT ? VTPM_EXIT_REJECTED : VTPM_EXIT_USAGE;

    return a > b ? a : b;
}

static FILE *
cli_open(cli_ctx *ctx, const char *path)
{
    FILE *f;

    if (!path || strcmp(path, "-") == 0)
        return stdin;
    f = fopen(path, "r");
    if (!f)
        cli_fail(ctx, "cannot open '%s': %s", path, strerror(errno));
    return f;
}

static void
cli_close(FILE *f)
{
    if (f && f != stdin)
        fclose(f);
}

/* Reads all of @f; NULL with a message on error or when too large. */
static char *
cli_slurp(cli_ctx *ctx, FILE *f, const char *path, size_t *len)
{
    char *buf;

    if (vtpm_file_read_stream(f, CLI_INPUT_MAX, &buf, len) == 0)
        return buf;
    if (errno == ENOMEM)
        vtpm_alloc_abort();
    if (errno == EFBIG)
        cli_fail(ctx, "input '%s' is larger than %zu MiB", path ? path : "-",
                 CLI_INPUT_MAX >> 20);
    else
        cli_fail(ctx, "cannot read '%s': %s", path ? path : "-", strerror(errno));
    return NULL;
}

static bool
blank(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    }
    return true;
}

/* Parses one document and runs @handler; prints its result line. */
static cli_outcome
cli_run_one(cli_ctx *ctx, cli_handler handler, const char *text, size_t len,
            long lineno)
{
    json_error_t jerr;
    json_t *doc, *out = NULL;
    cli_outcome o;
    char msg[512], jtext[JSON_ERROR_TEXT_LENGTH * 4];

    doc = vtpm_json_load(text, len, &jerr);
    if (!doc) {
        if (lineno > 0)
            vtpm_strfmt(msg, sizeof(msg), "line %ld, column %d: invalid JSON: %s",
                        lineno, jerr.column,
                        vtpm_json_error_text(jtext, sizeof(jtext), jerr.text));
        else
            vtpm_strfmt(msg, sizeof(msg), "line %d, column %d: invalid JSON: %s",
                        jerr.line, jerr.column,
                        vtpm_json_error_text(jtext, sizeof(jtext), jerr.text));
        o = bad_input(&out, msg);
    } else {
        o = handler(ctx, doc, &out);
        if (!out) {
            /* The handler wrote the answer itself. */
            if (fwrite(ctx->answer.text, 1, ctx->answer.len, ctx->out) != ctx->answer.len)
                cli_write_failed(ctx, errno);
            json_decref(doc);
            return o;
        }
        out = cli_with_id(doc, out);
        if (o == OUTCOME_BAD_INPUT && lineno > 0) {
            /* Say where the bad line was. */
            vtpm_strfmt(msg, sizeof(msg), "line %ld: %s", lineno,
                        json_string_value(json_object_get(out, "message")));
            cli_object_set(out, "message", VTPM_ALLOC_CHECK(json_string(msg)));
        }
    }
    if (o == OUTCOME_BAD_INPUT)
        fprintf(ctx->err, "%s: %s\n", ctx->prog,
                json_string_value(json_object_get(out, "message")));
    cli_print(ctx, out);
    json_decref(out);
    json_decref(doc);
    return o;
}

/* A line over the size limit: its bad_input answer. */
static cli_outcome
cli_line_too_long(cli_ctx *ctx, long lineno)
{
    char msg[128];
    json_t *out;

    vtpm_strfmt(msg, sizeof(msg), "line %ld: longer than %zu bytes", lineno, CLI_INPUT_MAX);
    fprintf(ctx->err, "%s: %s\n", ctx->prog, msg);
    out = reject_json("bad_input", msg);
    cli_print(ctx, out);
    json_decref(out);
    return OUTCOME_BAD_INPUT;
}

/* Runs @handler over each line of @f, answering each on one line. The
 * answers are flushed when the input has nothing more buffered: a peer that
 * waits for an answer before it writes the next line gets it at once, and a
 * stream costs one write per buffer, not per line. */
static int
cli_run_lines(cli_ctx *ctx, cli_handler handler, FILE *f, const char *path, const char *noun)
{
    vtpm_line_reader *r = vtpm_line_reader_new(fileno(f), CLI_INPUT_MAX, cli_flush_cb, ctx);
    const char *line;
    size_t len;
    bool too_long;
    long lineno = 0, docs = 0;
    int rc = VTPM_EXIT_OK;
    /* candidates: the inventory's cache may parse its notifications with
     * jansson meanwhile, and keeps what it loads. */
    bool arena = handler != handle_candidates;

    if (arena)
        vtpm_json_arena_begin();
    while (!ctx->write_error && vtpm_line_reader_next(r, &line, &len, &too_long)) {
        lineno++;
        if (!too_long && blank(line, len))
            continue;
        docs++;
        rc = worst(rc, too_long ? cli_line_too_long(ctx, lineno)
                                : cli_run_one(ctx, handler, line, len, lineno));
        /* Every json_t of the line is freed by now. */
        if (arena)
            vtpm_json_arena_reset();
    }
    if (arena)
        vtpm_json_arena_end();
    if (ctx->write_error) {
        rc = VTPM_EXIT_USAGE;
    } else if (vtpm_line_reader_error(r)) {
        cli_fail(ctx, "cannot read '%s': %s", path ? path : "-",
                 strerror(vtpm_line_reader_error(r)));
        rc = VTPM_EXIT_USAGE;
    } else if (docs == 0) {
        cli_fail(ctx, "no %s in '%s': the input is empty", noun, path ? path : "-");
        rc = VTPM_EXIT_USAGE;
    }
    vtpm_line_reader_free(r);
    return rc;
}

/* Runs @handler over @f: one document, or one per line with --jsonl. */
static int
cli_run_input(cli_ctx *ctx, cli_handler handler, FILE *f, const char *path,
              bool jsonl)
{
    /* What an empty input lacks: the host command's --hosts file holds hosts. */
    const char *noun = handler == handle_host_line ? "host" : "request";
    size_t len;
    char *text;
    int rc;

    if (jsonl)
        return cli_run_lines(ctx, handler, f, path, noun);
    text = cli_slurp(ctx, f, path, &len);
    if (!text)
        return VTPM_EXIT_USAGE;
    if (blank(text, len)) {
        cli_fail(ctx, "no %s in '%s': the input is empty", noun, path ? path : "-");
        free(text);
        return VTPM_EXIT_USAGE;
    }
    rc = worst(VTPM_EXIT_OK, cli_run_one(ctx, handler, text, len, 0));
    free(text);
    return rc;
}

/* Placement's trait names: upper-case letters, digits and '_', a letter first. */
static bool
cli_trait_name_valid(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > 255 || !(name[0] >= 'A' && name[0] <= 'Z'))
        return false;
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Reads --traits: names separated by commas, blanks around a name trimmed.
 * Names we do not know are the host's own business and ignored; a name that
 * cannot be a trait (lower case, a blank inside, nothing between commas) is
 * a typo that would silently drop a trait, so it is a usage error. "" is a
 * host without traits. */
static bool
cli_parse_traits(cli_ctx *ctx, const char *list)
{
    const char *p = list;

    ctx->host_traits = 0;
    ctx->have_host_traits = true;
    while (list[0] != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[256], q[72];
        int t;

        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        vtpm_strfmt(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1), p);
        if (!cli_trait_name_valid(p, len)) {
            cli_fail(ctx, "--traits: %s is not a trait name (upper-case letters, digits and '_', "
                     "separated by commas)", vtpm_quote(q, sizeof(q), name));
            return false;
        }
        t = vtpm_trait_from_name(name);
        if (t >= 0)
            ctx->host_traits |= VTPM_TRAITSET_BIT(t);
        if (!end)
            break;
        p = end + 1;
    }
    return true;
}

/* The options that only some commands take. */
enum {
    CLI_OPT_JSONL = 1 << 0,         /* --jsonl */
    CLI_OPT_HOST = 1 << 1,          /* --traits, --hosts */
    CLI_OPT_OVERRIDE_ROLE = 1 << 2, /* --override-role */
    CLI_OPT_INVENTORY = 1 << 3,     /* --dsn, --max */
};

/* One vtpm-filter command: its name, its help line, what runs each input
 * document, and the options it takes. */
typedef struct {
    const char *name;
    const char *summary;
    cli_handler handler;
    unsigned int options;
} cli_command;

static const cli_command cli_commands[] = {
    { "check", "print what a request asks for, or why it is refused",
      handle_check, CLI_OPT_JSONL },
    { "host", "check host traits against a request",
      handle_host, CLI_OPT_HOST },
    { "guard", "decide whether an operation on a vTPM server may run",
      handle_guard, CLI_OPT_JSONL | CLI_OPT_OVERRIDE_ROLE },
    { "candidates", "the hosts of the inventory that can take a request, from the\n"
                    "          scheduler's in-memory copy (libvtpm-inventory)",
      handle_candidates, CLI_OPT_JSONL | CLI_OPT_INVENTORY },
};

/* What the command line asked for, besides the command. */
typedef struct {
    vtpm_profile profile;
    unsigned int flags;
    const char *roles[32];
    size_t n_roles;
    const char *path;
} cli_options;

static void
cli_usage(cli_ctx *ctx, FILE *to)
{
    size_t i;

    fprintf(to, usage_head, ctx->prog);
    for (i = 0; i < VTPM_N_ELEMENTS(cli_commands); i++) {
        const cli_command *cmd = &cli_commands[i];

        /* Names that do not fit the column get a line of their own. */
        if (strlen(cmd->name) <= 6)
            fprintf(to, "  %-6s  %s\n", cmd->name, cmd->summary);
        else
            fprintf(to, "  %s\n          %s\n", cmd->name, cmd->summary);
    }
    fprintf(to, usage_tail, ctx->prog, ctx->prog, ctx->prog);
    vtpm_exit_print_help(to, VTPM_EXIT_FOR_FILTER);
}

static const cli_command *
cli_command_find(const char *name)
{
    size_t i;

    for (i = 0; i < VTPM_N_ELEMENTS(cli_commands); i++) {
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    }
    return NULL;
}

/* --max N: a number of hosts. */
static bool
cli_parse_max(cli_ctx *ctx, const char *arg)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (*arg < '0' || *arg > '9' || *end || errno || v > SIZE_MAX) {
        cli_fail(ctx, "invalid --max '%s' (expected a number of hosts)", arg);
        return false;
    }
    ctx->max_candidates = (size_t)v;
    ctx->max_given = true;
    return true;
}

/* Says what is wrong with the option getopt_long just refused. */
static void
cli_bad_option(cli_ctx *ctx, int opt, char **argv)
{
    if (opt == ':')
        cli_fail(ctx, "option '%s' needs a value", argv[optind - 1]);
    /* Inside a cluster of short options argv[optind - 1] is not the
     * culprit; optopt is. */
    else if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
        cli_fail(ctx, "unknown option '-%c' (see --help)", optopt);
    else
        cli_fail(ctx, "unknown option '%s' (see --help)", argv[optind - 1]);
}

/* Takes one option into @ctx and @opts. Returns -1 to go on, else the exit
 * code to end with (after --help, --version or an error). */
static int
cli_take_option(cli_ctx *ctx, cli_options *opts, int opt, char **argv)
{
    switch (opt) {
    case 'p':
        if (vtpm_profile_from_name(optarg, &opts->profile) != VTPM_OK) {
            cli_fail(ctx, "unknown profile '%s' (expected current or legacy)", optarg);
            return VTPM_EXIT_USAGE;
        }
        return -1;
    case 's':
        opts->flags |= VTPM_FILTER_STRICT;
        return -1;
    case 'j':
        ctx->jsonl = true;
        return -1;
    case 't':
        return cli_parse_traits(ctx, optarg) ? -1 : VTPM_EXIT_USAGE;
    case 'H':
        ctx->hosts_path = optarg;
        return -1;
    case 'r':
        if (opts->n_roles == VTPM_N_ELEMENTS(opts->roles)) {
            cli_fail(ctx, "too many --override-role options");
            return VTPM_EXIT_USAGE;
        }
        opts->roles[opts->n_roles++] = optarg;
        return -1;
    case 'd':
        ctx->dsn = optarg;
        return -1;
    case 'm':
        return cli_parse_max(ctx, optarg) ? -1 : VTPM_EXIT_USAGE;
    case 'h':
        cli_usage(ctx, ctx->out);
        return VTPM_EXIT_OK;
    case 'V':
        fprintf(ctx->out, "vtpm-filter %s\n", VTPM_VERSION);
        return VTPM_EXIT_OK;
    default:
        cli_bad_option(ctx, opt, argv);
        return VTPM_EXIT_USAGE;
    }
}

/* Parses the options after the command. Returns -1 to go on, else the exit
 * code to end with. */
static int
cli_parse_options(cli_ctx *ctx, cli_options *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "profile", required_argument, NULL, 'p' },
        { "strict", no_argument, NULL, 's' },
        { "jsonl", no_argument, NULL, 'j' },
        { "traits", required_argument, NULL, 't' },
        { "hosts", required_argument, NULL, 'H' },
        { "override-role", required_argument, NULL, 'r' },
        { "dsn", required_argument, NULL, 'd' },
        { "max", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int opt, rc;

    /* getopt sees the command as its program name. optind = 0 makes glibc
     * reinitialise completely, so a run that stopped inside an option
     * cluster ("-xh") leaves nothing behind for the next in-process run. */
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hV", options, NULL)) != -1) {
        if ((rc = cli_take_option(ctx, opts, opt, argv)) >= 0)
            return rc;
    }
    if (optind < argc)
        opts->path = argv[optind++];
    if (optind < argc) {
        cli_fail(ctx, "too many arguments (one FILE at most)");
        return VTPM_EXIT_USAGE;
    }
    return -1;
}

/* Refuses options that @cmd does not take. */
static bool
cli_check_options(cli_ctx *ctx, const cli_command *cmd, const cli_options *opts)
{
    if (cmd->options & CLI_OPT_HOST) {
        if (ctx->have_host_traits == (ctx->hosts_path != NULL)) {
            cli_fail(ctx, "host: give exactly one of --traits LIST or --hosts FILE");
            return false;
        }
    } else if (ctx->have_host_traits || ctx->hosts_path) {
        cli_fail(ctx, "--traits and --hosts apply to the host command only");
        return false;
    }
    if (ctx->jsonl && !(cmd->options & CLI_OPT_JSONL)) {
        cli_fail(ctx, "host: --jsonl does not apply; use --hosts for many hosts");
        return false;
    }
    if (opts->n_roles && !(cmd->options & CLI_OPT_OVERRIDE_ROLE)) {
        cli_fail(ctx, "--override-role applies to the guard command only");
        return false;
    }
    if ((ctx->dsn || ctx->max_given) && !(cmd->options & CLI_OPT_INVENTORY)) {
        cli_fail(ctx, "--dsn and --max apply to the candidates command only");
        return false;
    }
    return true;
}

/* Creates the filter, its request and result objects. */
static bool
cli_setup(cli_ctx *ctx, const cli_options *opts)
{
    vtpm_error verr = { 0 };
    size_t i;

    ctx->filter = vtpm_filter_new(opts->profile, opts->flags, &verr);
    if (!ctx->filter) {
        if (verr.status == VTPM_ERR_NO_MEMORY)
            vtpm_alloc_abort();
        cli_fail(ctx, "cannot set up the filter: %s", verr.message);
        return false;
    }
    ctx->req = VTPM_ALLOC_CHECK(vtpm_request_new());
    ctx->req2 = VTPM_ALLOC_CHECK(vtpm_request_new());
    ctx->res = VTPM_ALLOC_CHECK(vtpm_result_new());
    for (i = 0; i < opts->n_roles; i++) {
        vtpm_status st = vtpm_filter_add_owner_override_role(ctx->filter, opts->roles[i]);

        if (st == VTPM_ERR_NO_MEMORY)
            vtpm_alloc_abort();
        if (st != VTPM_OK) {
            cli_fail(ctx, "invalid --override-role '%s'", opts->roles[i]);
            return false;
        }
    }
    return true;
}

/* host --hosts: translates the request in @in once, then checks every host
 * line against it. 0 when some host passes, 1 when none does. */
static int
cli_run_hosts(cli_ctx *ctx, FILE *in, const char *path)
{
    json_t *out_json = NULL, *doc;
    size_t len;
    char *text = cli_slurp(ctx, in, path, &len);
    FILE *hosts;
    json_error_t jerr;
    cli_outcome o;
    char jtext[JSON_ERROR_TEXT_LENGTH * 4];
    int rc;

    if (!text)
        return VTPM_EXIT_USAGE;
    doc = vtpm_json_load(text, len, &jerr);
    free(text);
    if (!doc) {
        cli_fail(ctx, "request: line %d, column %d: invalid JSON: %s", jerr.line, jerr.column,
                 vtpm_json_error_text(jtext, sizeof(jtext), jerr.text));
        return VTPM_EXIT_USAGE;
    }
    o = cli_translate(ctx, doc, &out_json);
    json_decref(doc);
    if (o != OUTCOME_ACCEPT) {
        if (o == OUTCOME_REJECT)
            out_json = result_to_json(ctx->res);
        else
            fprintf(ctx->err, "%s: request: %s\n", ctx->prog,
                    json_string_value(json_object_get(out_json, "message")));
        cli_print(ctx, out_json);
        json_decref(out_json);
        return o == OUTCOME_REJECT ? VTPM_EXIT_REJECTED : VTPM_EXIT_USAGE;
    }
    hosts = cli_open(ctx, ctx->hosts_path);
    if (!hosts)
        return VTPM_EXIT_USAGE;
    rc = cli_run_input(ctx, handle_host_line, hosts, ctx->hosts_path, true);
    cli_close(hosts);
    if (rc != VTPM_EXIT_USAGE)
        rc = ctx->hosts_passed ? VTPM_EXIT_OK : VTPM_EXIT_REJECTED;
    return rc;
}

struct vtpm_cli_doc {
    vtpm_cli_doc_kind kind;
    cli_ctx ctx;
};

/* Translates @request for the host lines that follow; false when it is not
 * valid JSON or not accepted. */
static bool
cli_doc_request(cli_ctx *ctx, const char *request)
{
    json_t *doc = json_loads(request, JSON_REJECT_DUPLICATES, NULL);
    json_t *out = NULL;
    cli_outcome o;

    if (!doc)
        return false;
    o = cli_translate(ctx, doc, &out);
    json_decref(out);
    json_decref(doc);
    return o == OUTCOME_ACCEPT;
}

vtpm_cli_doc *
vtpm_cli_doc_new(vtpm_cli_doc_kind kind, const char *request)
{
    vtpm_cli_doc *doc = vtpm_alloc_calloc(1, sizeof(*doc));
    cli_options opts = { .profile = VTPM_PROFILE_CURRENT, .roles = { "admin" }, .n_roles = 1 };

    doc->kind = kind;
    doc->ctx.prog = "vtpm-filter";
    doc->ctx.err = stderr;
    if (!cli_setup(&doc->ctx, &opts) ||
        (kind == VTPM_CLI_DOC_HOST_LINE && !cli_doc_request(&doc->ctx, request))) {
        vtpm_cli_doc_free(doc);
        return NULL;
    }
    return doc;
}

int
vtpm_cli_doc_run(vtpm_cli_doc *doc, const char *text, size_t len, FILE *out, FILE *err)
{
    bool guard = doc->kind == VTPM_CLI_DOC_GUARD;

    doc->ctx.out = out;
    doc->ctx.err = err;
    return worst(VTPM_EXIT_OK, cli_run_one(&doc->ctx, guard ? handle_guard : handle_host_line,
                                           text, len, guard ? 0 : 1));
}

void
vtpm_cli_doc_free(vtpm_cli_doc *doc)
{
    if (!doc)
        return;
    vtpm_result_free(doc->ctx.res);
    vtpm_request_free(doc->ctx.req2);
    vtpm_request_free(doc->ctx.req);
    vtpm_filter_free(doc->ctx.filter);
    free(doc);
}

/* candidates: the inventory could not answer. A DSN that libpq cannot parse
 * is a usage error, like a build without libpq. */
static int
cli_inventory_exit(const vtpm_error *err)
{
    switch (err->status) {
    case VTPM_ERR_UNREACHABLE:
        return VTPM_EXIT_UNREACHABLE;
    case VTPM_ERR_DATABASE:
        return VTPM_EXIT_REFUSED;
    default:
        return VTPM_EXIT_USAGE;
    }
}

/* Runs @cmd over the input at @path. */
static int
cli_run_command(cli_ctx *ctx, const cli_command *cmd, const char *path)
{
    FILE *in = cli_open(ctx, path);
    int rc;

    if (!in)
        return VTPM_EXIT_USAGE;
    if (ctx->hosts_path)
        rc = cli_run_hosts(ctx, in, path);
    else
        rc = cli_run_input(ctx, cmd->handler, in, path, ctx->jsonl);
    if (ctx->inventory_failed)
        rc = cli_inventory_exit(&ctx->inventory_error);
    cli_close(in);
    return rc;
}

int
vtpm_filter_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    cli_ctx ctx = { .out = out, .err = err, .prog = "vtpm-filter",
                    .max_candidates = CLI_CANDIDATES_MAX_DEFAULT };
    cli_options opts = { .profile = VTPM_PROFILE_CURRENT };
    const cli_command *cmd;
    int rc;

    if (argc < 2) {
        cli_usage(&ctx, err);
        return VTPM_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli_usage(&ctx, out);
        return VTPM_EXIT_OK;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
        fprintf(out, "vtpm-filter %s\n", VTPM_VERSION);
        return VTPM_EXIT_OK;
    }
    if (!(cmd = cli_command_find(argv[1]))) {
        cli_fail(&ctx, "unknown command '%s' (expected check, host, guard or candidates; "
                 "see --help)", argv[1]);
        return VTPM_EXIT_USAGE;
    }
    if ((rc = cli_parse_options(&ctx, &opts, argc - 1, argv + 1)) >= 0)
        return rc;
    if (!cli_check_options(&ctx, cmd, &opts))
        return VTPM_EXIT_USAGE;
    if (cmd->options & CLI_OPT_INVENTORY)
        ctx.dsn = vtpm_dsn_lookup(ctx.dsn);

    rc = cli_setup(&ctx, &opts) ? cli_run_command(&ctx, cmd, opts.path) : VTPM_EXIT_USAGE;

    vtpm_answer_clear(&ctx.answer);
    vtpm_cli_inventory_close(ctx.inventory);
    vtpm_result_free(ctx.res);
    vtpm_request_free(ctx.req2);
    vtpm_request_free(ctx.req);
    vtpm_filter_free(ctx.filter);
    /* Answers that were not written are no answer: that outranks a
     * rejection, not an unreachable inventory. */
    cli_flush(&ctx);
    if (ctx.write_error && rc <= VTPM_EXIT_USAGE)
        rc = VTPM_EXIT_USAGE;
    return rc;
}
