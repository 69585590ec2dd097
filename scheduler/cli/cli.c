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

#include "cli.h"
#include "cli_inventory.h"
#include "file.h"
#include "request_json-priv.h"
#include "trait.h"
#include "util.h"
#include "vtpm-config.h"

/* Whole-document input larger than this is refused rather than buffered. */
#define CLI_INPUT_MAX ((size_t)64 << 20)

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REJECTED = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_INVENTORY = 3,
};

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
    char inventory_error[512];
} cli_ctx;

typedef cli_outcome (*cli_handler)(cli_ctx *ctx, json_t *doc, json_t **out);

static const char usage_text[] =
    "Usage: %s COMMAND [OPTIONS] [FILE]\n"
    "\n"
    "Translate vTPM requests (flavor extra specs + image properties) the way\n"
    "OpenStack Nova does, check hosts against them, and guard operations.\n"
    "FILE is read, or standard input when FILE is absent or '-'.\n"
    "\n"
    "Commands:\n"
    "  check   print what a request asks for, or why it is refused\n"
    "  host    check host traits against a request\n"
    "  guard   decide whether an operation on a vTPM server may run\n"
    "  candidates\n"
    "          the hosts of the inventory that can take a request, from the\n"
    "          scheduler's in-memory copy (libvtpm-inventory)\n"
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
    "\n"
    "Exit status: 0 all accepted (host: a host passes; guard: allowed;\n"
    "candidates: every request has a candidate), 1 some rejected (host: none\n"
    "passes; guard: refused; candidates: a request is refused or no host can\n"
    "take it), 2 usage error or unreadable input, 3 the inventory cannot be\n"
    "read (unreachable, not migrated, no rights).\n";

static void
cli_usage(cli_ctx *ctx, FILE *to)
{
    fprintf(to, usage_text, ctx->prog, ctx->prog, ctx->prog, ctx->prog);
}

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
    json_t *arr = json_array();
    int t;

    for (t = 0; arr && t < VTPM_TRAIT_COUNT; t++) {
        if (set & VTPM_TRAITSET_BIT(t))
            json_array_append_new(arr, json_string(vtpm_trait_name((vtpm_trait)t)));
    }
    return arr;
}

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* {"result":"reject","code":..,"message":..} */
static json_t *
reject_json(const char *code, const char *message)
{
    return json_pack("{s:s, s:s, s:s}", "result", "reject", "code", code,
                     "message", message);
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
        vtpm = json_pack("{s:o, s:o, s:o}",
                         "version", str_or_null(vtpm_version_name(vtpm_result_version(res))),
                         "model", str_or_null(vtpm_model_name(vtpm_result_model(res))),
                         "secret_security",
                         str_or_null(vtpm_secret_security_name(
                             vtpm_result_secret_security(res))));
    }
    return json_pack("{s:s, s:o, s:o}", "result", "accept", "vtpm", vtpm,
                     "required_traits", traits_to_json(vtpm_result_required_traits(res)));
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

static cli_outcome
handle_check(cli_ctx *ctx, json_t *doc, json_t **out)
{
    cli_outcome o = cli_translate(ctx, doc, out);

    if (o != OUTCOME_BAD_INPUT)
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

static json_t *
host_verdict_json(const char *name, vtpm_traitset required, vtpm_traitset host)
{
    vtpm_traitset missing;
    bool pass = vtpm_host_passes(required, host, &missing);
    json_t *o = json_object();

    if (name)
        json_object_set_new(o, "host", json_string(name));
    json_object_set_new(o, "result", json_string(pass ? "pass" : "fail"));
    json_object_set_new(o, "required_traits", traits_to_json(required));
    json_object_set_new(o, "missing_traits", traits_to_json(missing));
    return o;
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
    *out = json_pack("{s:s, s:s, s:s}", "result", "error", "code", "inventory_unavailable",
                     "message", ctx->inventory_error);
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
    if (o == OUTCOME_REJECT || !*out)
        return o;
    if (ctx->inventory_failed)
        return inventory_error(ctx, out);
    if (!ctx->inventory) {
        ctx->inventory = vtpm_cli_inventory_open(ctx->dsn, ctx->inventory_error,
                                                 sizeof(ctx->inventory_error));
        if (!ctx->inventory) {
            ctx->inventory_failed = true;
            cli_fail(ctx, "candidates: %s", ctx->inventory_error);
            return inventory_error(ctx, out);
        }
    }
    found = vtpm_cli_inventory_candidates(ctx->inventory, vtpm_result_required_traits(ctx->res),
                                          ctx->max_candidates, ctx->inventory_error,
                                          sizeof(ctx->inventory_error));
    if (!found) {
        ctx->inventory_failed = true;
        cli_fail(ctx, "candidates: %s", ctx->inventory_error);
        return inventory_error(ctx, out);
    }
    json_object_update(*out, found);
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

static cli_outcome
handle_guard(cli_ctx *ctx, json_t *doc, json_t **out)
{
    vtpm_guard_request greq = { 0 };
    const char *roles_buf[64];
    json_t *instance, *requester, *roles, *new_flavor, *request;
    const char *op_name;
    vtpm_error verr = { 0 };
    vtpm_status st;
    size_t i;
    json_t *v;

    if (!json_is_object(doc))
        return bad_input(out, "a guard request must be a JSON object");
    instance = json_object_get(doc, "instance");
    if (!json_is_object(instance))
        return bad_input(out, "'instance' must be an object with 'flavor', 'image', 'owner'");
    if (!json_opt_string(doc, "operation", &op_name) || !op_name)
        return bad_input(out, "'operation' must be a string");
    if (!json_opt_string(instance, "owner", &greq.owner))
        return bad_input(out, "'instance.owner' must be a string");

    /* The instance's own request: its flavor and image. */
    request = json_pack("{s:O?, s:O?}", "flavor", json_object_get(instance, "flavor"),
                        "image", json_object_get(instance, "image"));
    if (!request)
        return bad_input(out, "out of memory");
    st = vtpm_request_parse_json_value(ctx->req, request, &verr);
    json_decref(request);
    if (st != VTPM_OK)
        return bad_input(out, verr.message);
    greq.instance = ctx->req;

    greq.operation = vtpm_operation_from_name(op_name);
    new_flavor = json_object_get(doc, "new_flavor");
    if (greq.operation == VTPM_OP_RESIZE) {
        if (!json_is_object(new_flavor))
            return bad_input(out, "operation 'resize' needs 'new_flavor', an object");
        /* A resize keeps the image and changes the flavor. */
        request = json_pack("{s:O, s:O?}", "flavor", new_flavor,
                            "image", json_object_get(instance, "image"));
        if (!request)
            return bad_input(out, "out of memory");
        st = vtpm_request_parse_json_value(ctx->req2, request, &verr);
        json_decref(request);
        if (st != VTPM_OK)
            return bad_input(out, verr.message);
        greq.new_flavor = ctx->req2;
    }

    requester = json_object_get(doc, "requester");
    if (requester && !json_is_object(requester))
        return bad_input(out, "'requester' must be an object with 'user' and 'roles'");
    if (requester) {
        if (!json_opt_string(requester, "user", &greq.requester))
            return bad_input(out, "'requester.user' must be a string");
        roles = json_object_get(requester, "roles");
        if (roles && !json_is_array(roles))
            return bad_input(out, "'requester.roles' must be an array of strings");
        if (json_array_size(roles) > VTPM_N_ELEMENTS(roles_buf))
            return bad_input(out, "'requester.roles' has too many entries");
        json_array_foreach(roles, i, v) {
            if (!json_is_string(v))
                return bad_input(out, "'requester.roles' must be an array of strings");
            roles_buf[i] = json_string_value(v);
        }
        greq.roles = roles_buf;
        greq.n_roles = json_array_size(roles);
    }

    st = vtpm_filter_guard(ctx->filter, &greq, ctx->res);
    if (st != VTPM_OK)
        return bad_input(out, vtpm_status_name(st));
    if (vtpm_result_accepted(ctx->res)) {
        *out = json_pack("{s:s, s:s}", "result", "allow", "operation",
                         vtpm_operation_name(greq.operation));
        return OUTCOME_ACCEPT;
    }
    *out = json_pack("{s:s, s:s, s:s}", "result", "refuse", "code",
                     vtpm_code_name(vtpm_result_code(ctx->res)), "message",
                     vtpm_result_message(ctx->res));
    return OUTCOME_REJECT;
}

/* Prints @obj compactly on one line (the contract's format). */
static bool
cli_print(cli_ctx *ctx, json_t *obj)
{
    char *text;

    if (!obj)
        return false;
    text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return false;
    fputs(text, ctx->out);
    fputc('\n', ctx->out);
    free(text);
    return true;
}

/* Carries the "id" of the input, if any, into the output. */
static json_t *
cli_with_id(json_t *doc, json_t *result)
{
    json_t *id = json_is_object(doc) ? json_object_get(doc, "id") : NULL;
    json_t *o;

    if (!id || !result)
        return result;
    o = json_object();
    if (!o)
        return result;
    json_object_set(o, "id", id);
    json_object_update(o, result);
    json_decref(result);
    return o;
}

static int
worst(int a, cli_outcome o)
{
    int b = o == OUTCOME_ACCEPT ? CLI_EXIT_OK
          : o == OUTCOME_REJECT ? CLI_EXIT_REJECTED : CLI_EXIT_USAGE;

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
        cli_fail(ctx, "out of memory");
    else if (errno == EFBIG)
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

    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
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
        out = cli_with_id(doc, out);
        if (o == OUTCOME_BAD_INPUT && out && lineno > 0) {
            /* Say where the bad line was. */
            vtpm_strfmt(msg, sizeof(msg), "line %ld: %s", lineno,
                        json_string_value(json_object_get(out, "message")));
            json_object_set_new(out, "message", json_string(msg));
        }
    }
    if (o == OUTCOME_BAD_INPUT && out)
        fprintf(ctx->err, "%s: %s\n", ctx->prog,
                json_string_value(json_object_get(out, "message")));
    if (!cli_print(ctx, out)) {
        cli_fail(ctx, "cannot format result: out of memory");
        o = OUTCOME_BAD_INPUT;
    }
    json_decref(out);
    json_decref(doc);
    return o;
}

/* Runs @handler over @f: one document, or one per line with --jsonl. */
static int
cli_run_input(cli_ctx *ctx, cli_handler handler, FILE *f, const char *path,
              bool jsonl)
{
    /* What an empty input lacks: the host command's --hosts file holds hosts. */
    const char *noun = handler == handle_host_line ? "host" : "request";
    int rc = CLI_EXIT_OK;

    if (!jsonl) {
        size_t len;
        char *text = cli_slurp(ctx, f, path, &len);

        if (!text)
            return CLI_EXIT_USAGE;
        if (blank(text, len)) {
            cli_fail(ctx, "no %s in '%s': the input is empty", noun, path ? path : "-");
            free(text);
            return CLI_EXIT_USAGE;
        }
        rc = worst(rc, cli_run_one(ctx, handler, text, len, 0));
        free(text);
        return rc;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0, docs = 0;

        while ((n = getline(&line, &cap, f)) >= 0) {
            lineno++;
            if (blank(line, (size_t)n))
                continue;
            docs++;
            rc = worst(rc, cli_run_one(ctx, handler, line, (size_t)n, lineno));
            fflush(ctx->out);
        }
        if (ferror(f)) {
            cli_fail(ctx, "cannot read '%s': %s", path ? path : "-", strerror(errno));
            rc = CLI_EXIT_USAGE;
        } else if (docs == 0) {
            cli_fail(ctx, "no %s in '%s': the input is empty", noun, path ? path : "-");
            rc = CLI_EXIT_USAGE;
        }
        free(line);
        return rc;
    }
}

static bool
cli_parse_traits(cli_ctx *ctx, const char *list)
{
    char *copy = strdup(list), *save = NULL, *tok;

    if (!copy) {
        cli_fail(ctx, "out of memory");
        return false;
    }
    ctx->host_traits = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int t;

        while (*tok == ' ')
            tok++;
        t = vtpm_trait_from_name(tok);
        if (t >= 0)
            ctx->host_traits |= VTPM_TRAITSET_BIT(t);
    }
    free(copy);
    ctx->have_host_traits = true;
    return true;
}

int
vtpm_filter_cli_main(int argc, char **argv, FILE *out, FILE *err)
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
    cli_ctx ctx = { .out = out, .err = err, .prog = "vtpm-filter",
                    .max_candidates = CLI_CANDIDATES_MAX_DEFAULT };
    vtpm_profile profile = VTPM_PROFILE_CURRENT;
    unsigned int flags = 0;
    const char *roles[32];
    size_t n_roles = 0, i;
    const char *command, *path = NULL;
    vtpm_error verr = { 0 };
    cli_handler handler;
    FILE *in = NULL;
    int opt, rc = CLI_EXIT_USAGE;

    if (argc < 2) {
        cli_usage(&ctx, err);
        return CLI_EXIT_USAGE;
    }
    command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        cli_usage(&ctx, out);
        return CLI_EXIT_OK;
    }
    if (strcmp(command, "-V") == 0 || strcmp(command, "--version") == 0) {
        fprintf(out, "vtpm-filter %s\n", VTPM_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(command, "check") == 0) {
        handler = handle_check;
    } else if (strcmp(command, "host") == 0) {
        handler = handle_host;
    } else if (strcmp(command, "guard") == 0) {
        handler = handle_guard;
    } else if (strcmp(command, "candidates") == 0) {
        handler = handle_candidates;
    } else {
        cli_fail(&ctx, "unknown command '%s' (expected check, host, guard or candidates; "
                 "see --help)", command);
        return CLI_EXIT_USAGE;
    }

    /* getopt sees the command as its program name. optind = 0 makes glibc
     * reinitialise completely, so a run that stopped inside an option
     * cluster ("-xh") leaves nothing behind for the next in-process run. */
    argc--;
    argv++;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hV", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            if (vtpm_profile_from_name(optarg, &profile) != VTPM_OK) {
                cli_fail(&ctx, "unknown profile '%s' (expected current or legacy)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 's':
            flags |= VTPM_FILTER_STRICT;
            break;
        case 'j':
            ctx.jsonl = true;
            break;
        case 't':
            if (!cli_parse_traits(&ctx, optarg))
                return CLI_EXIT_USAGE;
            break;
        case 'H':
            ctx.hosts_path = optarg;
            break;
        case 'r':
            if (n_roles == VTPM_N_ELEMENTS(roles)) {
                cli_fail(&ctx, "too many --override-role options");
                return CLI_EXIT_USAGE;
            }
            roles[n_roles++] = optarg;
            break;
        case 'd':
            ctx.dsn = optarg;
            break;
        case 'm': {
            char *end;
            unsigned long long v;

            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || errno || v > SIZE_MAX) {
                cli_fail(&ctx, "invalid --max '%s' (expected a number of hosts)", optarg);
                return CLI_EXIT_USAGE;
            }
            ctx.max_candidates = (size_t)v;
            ctx.max_given = true;
            break;
        }
        case 'h':
            cli_usage(&ctx, out);
            return CLI_EXIT_OK;
        case 'V':
            fprintf(out, "vtpm-filter %s\n", VTPM_VERSION);
            return CLI_EXIT_OK;
        case ':':
            cli_fail(&ctx, "option '%s' needs a value", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        default:
            /* Inside a cluster of short options argv[optind - 1] is not
             * the culprit; optopt is. */
            if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
                cli_fail(&ctx, "unknown option '-%c' (see --help)", optopt);
            else
                cli_fail(&ctx, "unknown option '%s' (see --help)", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc) {
        cli_fail(&ctx, "too many arguments (one FILE at most)");
        return CLI_EXIT_USAGE;
    }
    if (handler == handle_host) {
        if (ctx.have_host_traits == (ctx.hosts_path != NULL)) {
            cli_fail(&ctx, "host: give exactly one of --traits LIST or --hosts FILE");
            return CLI_EXIT_USAGE;
        }
        if (ctx.jsonl) {
            cli_fail(&ctx, "host: --jsonl does not apply; use --hosts for many hosts");
            return CLI_EXIT_USAGE;
        }
    } else if (ctx.have_host_traits || ctx.hosts_path) {
        cli_fail(&ctx, "--traits and --hosts apply to the host command only");
        return CLI_EXIT_USAGE;
    }
    if (n_roles && handler != handle_guard) {
        cli_fail(&ctx, "--override-role applies to the guard command only");
        return CLI_EXIT_USAGE;
    }
    if (handler != handle_candidates && (ctx.dsn || ctx.max_given)) {
        cli_fail(&ctx, "--dsn and --max apply to the candidates command only");
        return CLI_EXIT_USAGE;
    }
    if (handler == handle_candidates)
        ctx.dsn = vtpm_dsn_lookup(ctx.dsn);

    ctx.filter = vtpm_filter_new(profile, flags, &verr);
    ctx.req = vtpm_request_new();
    ctx.req2 = vtpm_request_new();
    ctx.res = vtpm_result_new();
    if (!ctx.filter || !ctx.req || !ctx.req2 || !ctx.res) {
        cli_fail(&ctx, "cannot set up the filter: %s",
                 ctx.filter ? "out of memory" : verr.message);
        goto cleanup;
    }
    for (i = 0; i < n_roles; i++) {
        if (vtpm_filter_add_owner_override_role(ctx.filter, roles[i]) != VTPM_OK) {
            cli_fail(&ctx, "invalid --override-role '%s'", roles[i]);
            goto cleanup;
        }
    }

    in = cli_open(&ctx, path);
    if (!in)
        goto cleanup;

    if (handler == handle_host && ctx.hosts_path) {
        /* The request once, then every host line against it. */
        json_t *out_json = NULL;
        size_t len;
        char *text = cli_slurp(&ctx, in, path, &len);
        FILE *hosts;
        json_error_t jerr;
        json_t *doc;
        cli_outcome o;
        char jtext[JSON_ERROR_TEXT_LENGTH * 4];

        if (!text)
            goto cleanup;
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (!doc) {
            cli_fail(&ctx, "request: line %d, column %d: invalid JSON: %s",
                     jerr.line, jerr.column,
                     vtpm_json_error_text(jtext, sizeof(jtext), jerr.text));
            goto cleanup;
        }
        o = cli_translate(&ctx, doc, &out_json);
        json_decref(doc);
        if (o != OUTCOME_ACCEPT) {
            if (o == OUTCOME_REJECT)
                out_json = result_to_json(ctx.res);
            else
                fprintf(err, "%s: request: %s\n", ctx.prog,
                        json_string_value(json_object_get(out_json, "message")));
            cli_print(&ctx, out_json);
            json_decref(out_json);
            rc = o == OUTCOME_REJECT ? CLI_EXIT_REJECTED : CLI_EXIT_USAGE;
            goto cleanup;
        }
        hosts = cli_open(&ctx, ctx.hosts_path);
        if (!hosts)
            goto cleanup;
        rc = cli_run_input(&ctx, handle_host_line, hosts, ctx.hosts_path, true);
        cli_close(hosts);
        /* host --hosts: 0 when some host passes, 1 when none does. */
        if (rc != CLI_EXIT_USAGE)
            rc = ctx.hosts_passed ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
        goto cleanup;
    }

    rc = cli_run_input(&ctx, handler, in, path, ctx.jsonl);
    if (ctx.inventory_failed)
        rc = CLI_EXIT_INVENTORY;

cleanup:
    cli_close(in);
    vtpm_cli_inventory_close(ctx.inventory);
    vtpm_result_free(ctx.res);
    vtpm_request_free(ctx.req2);
    vtpm_request_free(ctx.req);
    vtpm_filter_free(ctx.filter);
    if (fflush(out) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_USAGE;
    return rc;
}
