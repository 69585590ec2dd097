/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher: microversions, providers, traits with generations. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "clock.h"
#include "http.h"
#include "keystone.h"
#include "log.h"
#include "placement-priv.h"
#include "util.h"
#include "uuid.h"

#define PLACEMENT_URL_MAX 1024
#define PLACEMENT_BACKOFF_MAX 5.0

/* Microversions (minor numbers of 1.x) whose answers differ. */
#define PLACEMENT_MV_CREATE_RETURNS_BODY 20   /* POST /resource_providers answers the provider */
#define PLACEMENT_MV_ERROR_CODES 23           /* errors carry a "code" */

/*
 * When two writers pass Placement's generation check at the same moment, the
 * loser fails later, in the database compare-and-swap, and Placement (Zed)
 * answers 500 with this text instead of a 409. It is the same conflict.
 */
#define PLACEMENT_CONCURRENT_500 "Another thread concurrently updated the resource provider"

/*
 * A third form, on PostgreSQL: when both writers add the same trait, the
 * loser's insert fails on the unique key; Placement ignores that error as if
 * the database were MySQL, but PostgreSQL has already aborted the
 * transaction, so its next statement fails with this and the answer is a
 * 500. Nothing was written (the transaction rolls back whole), and the PUT
 * is conditional on the generation: re-reading and retrying is safe.
 */
#define PLACEMENT_ABORTED_500 "current transaction is aborted"

struct vtpm_placement_client {
    vtpm_placement_conf conf;      /* a deep copy */
    vtpm_http *http;
    vtpm_keystone *ks;             /* NULL unless Keystone auth */
    char url[PLACEMENT_URL_MAX];   /* without trailing slash; "" until known */
    int microversion;              /* minor version, 0 until negotiated */
    bool known_valid;
    vtpm_traitset known;           /* managed traits the service knows */
    char provider_name[256];       /* last provider resolved */
    char provider_uuid[VTPM_UUID_STRING_SIZE];
    unsigned int seed;
    vtpm_placement_stats stats;
    vtpm_placement_hook before_put;
    void *before_put_opaque;
};

/* Where a request failed, when it did not get an answer to look at. */
typedef struct {
    vtpm_publish_status status;
    char message[sizeof(((vtpm_publish_result *)0)->message)];
} placement_failure;

static void
placement_conf_copy(vtpm_placement_conf *dst, const vtpm_placement_conf *src)
{
    *dst = *src;
#define X(m) dst->m = src->m ? vtpm_alloc_strdup(src->m) : NULL;
    VTPM_PLACEMENT_CONF_STRINGS(X)
#undef X
}

int
vtpm_placement_microversion_parse(const char *s)
{
    long minor = 0;

    if (!s || strncmp(s, "1.", 2) != 0)
        return -1;
    s += 2;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || minor > 100000)
            return -1;
        minor = minor * 10 + (*s - '0');
    }
    return (int)minor;
}

static bool
placement_conf_has(const char *s)
{
    return s && *s;
}

static int
placement_conf_check(const vtpm_placement_conf *c, char *err, size_t errlen)
{
    bool keystone = c->auth == VTPM_PLACEMENT_AUTH_PASSWORD ||
                    c->auth == VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL;

    if (!vtpm_placement_auth_name(c->auth)) {
        vtpm_strfmt(err, errlen, "unknown placement auth type %d", (int)c->auth);
        return -1;
    }
    if (!placement_conf_has(c->url) && !keystone) {
        vtpm_strfmt(err, errlen, "placement needs a url");
        return -1;
    }
    if (placement_conf_has(c->url) &&
        (strlen(c->url) >= PLACEMENT_URL_MAX - 256 ||
         (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0))) {
        char q[160];

        vtpm_strfmt(err, errlen, "placement url %s is not an http:// or https:// URL",
                    vtpm_quote(q, sizeof(q), c->url));
        return -1;
    }
    if (placement_conf_has(c->microversion) && strcmp(c->microversion, "auto") != 0) {
        int mv = vtpm_placement_microversion_parse(c->microversion);
        char q[64];

        if (mv < VTPM_PLACEMENT_MIN_MICROVERSION || mv > VTPM_PLACEMENT_MAX_MICROVERSION) {
            vtpm_strfmt(err, errlen, "placement microversion %s not usable: "
                        "'auto' or 1.%d to 1.%d",
                        vtpm_quote(q, sizeof(q), c->microversion),
                        VTPM_PLACEMENT_MIN_MICROVERSION, VTPM_PLACEMENT_MAX_MICROVERSION);
            return -1;
        }
    }
    if (placement_conf_has(c->provider_uuid) && !vtpm_uuid_text_valid(c->provider_uuid)) {
        char q[64];

        vtpm_strfmt(err, errlen, "placement provider_uuid %s is not a UUID",
                    vtpm_quote(q, sizeof(q), c->provider_uuid));
        return -1;
    }
    if (c->auth == VTPM_PLACEMENT_AUTH_TOKEN && !placement_conf_has(c->token)) {
        vtpm_strfmt(err, errlen, "placement auth 'token' needs a token");
        return -1;
    }
    if (keystone && !placement_conf_has(c->auth_url)) {
        vtpm_strfmt(err, errlen, "placement auth '%s' needs an auth_url",
                    vtpm_placement_auth_name(c->auth));
        return -1;
    }
    if (c->auth == VTPM_PLACEMENT_AUTH_PASSWORD &&
        (!(placement_conf_has(c->username) || placement_conf_has(c->user_id)) ||
         !placement_conf_has(c->password))) {
        vtpm_strfmt(err, errlen, "placement auth 'password' needs a username and a password");
        return -1;
    }
    if (c->auth == VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL &&
        (!placement_conf_has(c->application_credential_secret) ||
         !(placement_conf_has(c->application_credential_id) ||
           (placement_conf_has(c->application_credential_name) &&
            (placement_conf_has(c->username) || placement_conf_has(c->user_id)))))) {
        vtpm_strfmt(err, errlen, "placement auth 'application_credential' needs an "
                    "application_credential_id (or a name and a username) and a secret");
        return -1;
    }
    if (c->connect_timeout < 0 || c->timeout < 0 || c->retry_delay < 0) {
        vtpm_strfmt(err, errlen, "placement timeouts and retry_delay cannot be negative");
        return -1;
    }
    return 0;
}

static void
placement_set_url(vtpm_placement_client *client, const char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    vtpm_strfmt(client->url, sizeof(client->url), "%.*s", (int)n, url);
}

vtpm_placement_client *
vtpm_placement_client_new(const vtpm_placement_conf *conf, char *err, size_t errlen)
{
    vtpm_placement_client *client;
    vtpm_http_conf hc;

    if (placement_conf_check(conf, err, errlen) < 0)
        return NULL;
    client = vtpm_alloc_calloc(1, sizeof(*client));
    placement_conf_copy(&client->conf, conf);
    hc = (vtpm_http_conf){
        .ca_file = conf->ca_file,
        .cert_file = conf->cert_file,
        .key_file = conf->key_file,
        .key_password_file = conf->key_password_file,
        .verify = conf->verify,
        .connect_timeout = conf->connect_timeout,
        .timeout = conf->timeout,
    };
    client->http = vtpm_http_new(&hc, err, errlen);
    if (!client->http)
        goto error;
    if (conf->auth == VTPM_PLACEMENT_AUTH_PASSWORD ||
        conf->auth == VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL) {
        const vtpm_placement_conf *c = &client->conf;
        vtpm_keystone_conf kc = {
            .auth_url = c->auth_url,
            .application_credential = c->auth == VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL,
            .username = c->username,
            .user_id = c->user_id,
            .user_domain_name = c->user_domain_name,
            .password = c->password,
            .project_name = c->project_name,
            .project_id = c->project_id,
            .project_domain_name = c->project_domain_name,
            .application_credential_id = c->application_credential_id,
            .application_credential_name = c->application_credential_name,
            .application_credential_secret = c->application_credential_secret,
            .interface = c->interface,
            .region = c->region,
        };

        client->ks = vtpm_keystone_new(&kc, client->http);
    }
    if (placement_conf_has(conf->url))
        placement_set_url(client, conf->url);
    if (placement_conf_has(conf->microversion) && strcmp(conf->microversion, "auto") != 0)
        client->microversion = vtpm_placement_microversion_parse(conf->microversion);
    client->seed = (unsigned int)time(NULL) ^ (unsigned int)getpid() ^
                   (unsigned int)(uintptr_t)client;
    return client;

error:
    vtpm_placement_client_free(client);
    return NULL;
}

void
vtpm_placement_client_free(vtpm_placement_client *client)
{
    if (!client)
        return;
    vtpm_keystone_free(client->ks);
    vtpm_http_free(client->http);
    vtpm_placement_conf_clear(&client->conf);
    free(client);
}

void
vtpm_placement_client_stats(const vtpm_placement_client *client,
                            vtpm_placement_stats *stats)
{
    *stats = client->stats;
    stats->token_requests = client->ks ? vtpm_keystone_requests(client->ks) : 0;
    stats->connections = vtpm_http_connections(client->http);
    stats->microversion = client->microversion;
}

void
vtpm_placement_client_set_before_put(vtpm_placement_client *client,
                                     vtpm_placement_hook hook, void *opaque)
{
    client->before_put = hook;
    client->before_put_opaque = opaque;
}

/* Collapses Placement's "\n\n detail  " into single spaces, trimmed. */
static void
placement_squash(char *s)
{
    char *o = s;
    bool space = true;

    for (char *p = s; *p; p++) {
        if (isspace((unsigned char)*p)) {
            if (!space)
                *o++ = ' ';
            space = true;
        } else {
            *o++ = *p;
            space = false;
        }
    }
    if (o > s && o[-1] == ' ')
        o--;
    *o = '\0';
}

void
vtpm_placement_error_text(long status, const char *body, char *buf, size_t len,
                          char *code, size_t codelen)
{
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    json_t *first = json_array_get(json_object_get(root, "errors"), 0);
    const char *title = json_string_value(json_object_get(first, "title"));
    const char *detail = json_string_value(json_object_get(first, "detail"));
    const char *c = json_string_value(json_object_get(first, "code"));
    char text[384];
    char quoted[200];

    if (code && codelen)
        vtpm_strfmt(code, codelen, "%s", c ? c : "");
    if (!first) {
        /* webob's own pages (401 from the auth middleware) use "message". */
        detail = json_string_value(json_object_get(root, "message"));
        title = json_string_value(json_object_get(root, "title"));
    }
    if (detail || title) {
        vtpm_strfmt(text, sizeof(text), "%s", detail ? detail : "");
        placement_squash(text);
        /* The detail repeats the title first ("Conflict ... "): keep it once. */
        if (title && strncmp(text, title, strlen(title)) == 0)
            memmove(text, text + strlen(title), strlen(text + strlen(title)) + 1);
        placement_squash(text);
        if (c)
            vtpm_strfmt(buf, len, "HTTP %ld %s: %s (%s)", status, title ? title : "",
                        text, c);
        else
            vtpm_strfmt(buf, len, "HTTP %ld %s: %s", status, title ? title : "", text);
    } else if (body && *body) {
        vtpm_strfmt(buf, len, "HTTP %ld: %s", status,
                    vtpm_quote(quoted, sizeof(quoted), body));
    } else {
        vtpm_strfmt(buf, len, "HTTP %ld with an empty body", status);
    }
    json_decref(root);
}

static vtpm_publish_status
placement_status_for_http(long status)
{
    if (status >= 500)
        return VTPM_PUBLISH_UNREACHABLE;
    return VTPM_PUBLISH_REFUSED;
}

/* Fills @fail from an unexpected answer to @method @path. */
static void
placement_fail_answer(const vtpm_placement_client *client, placement_failure *fail,
                      const char *method, const char *path,
                      const vtpm_http_response *resp)
{
    char detail[400];

    vtpm_placement_error_text(resp->status, resp->body, detail, sizeof(detail), NULL, 0);
    fail->status = placement_status_for_http(resp->status);
    vtpm_strfmt(fail->message, sizeof(fail->message), "placement '%s' %s %s: %s",
                client->url, method, path, detail);
}

static void
placement_fail_invalid(const vtpm_placement_client *client, placement_failure *fail,
                       const char *method, const char *path,
                       const vtpm_http_response *resp, const char *what)
{
    char quoted[120];

    fail->status = VTPM_PUBLISH_UNREACHABLE;
    vtpm_strfmt(fail->message, sizeof(fail->message),
                "placement '%s' %s %s: invalid answer (%s): %s", client->url, method,
                path, what, vtpm_quote(quoted, sizeof(quoted), resp->body));
}

/* Makes sure the endpoint URL is known (from the Keystone catalog if needed). */
static int
placement_ensure_url(vtpm_placement_client *client, placement_failure *fail)
{
    const char *url;

    if (client->url[0])
        return 0;
    if (!client->ks ||
        !vtpm_keystone_token(client->ks, false, &fail->status, fail->message,
                             sizeof(fail->message)))
        return -1;
    url = vtpm_keystone_endpoint(client->ks, "placement");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strlen(url) >= PLACEMENT_URL_MAX - 256) {
        fail->status = VTPM_PUBLISH_CONFIG;
        vtpm_strfmt(fail->message, sizeof(fail->message),
                    "no usable placement endpoint (interface '%s') in the keystone "
                    "catalog: set placement url",
                    placement_conf_has(client->conf.interface) ?
                        client->conf.interface : "public");
        return -1;
    }
    placement_set_url(client, url);
    VTPM_DEBUG("placement endpoint '%s' from the keystone catalog", client->url);
    return 0;
}

/* The "X-Auth-Token: ..." header for this attempt (a new Keystone token
 * after a 401), or NULL without authentication. -1 with @fail filled when
 * Keystone gives no token. */
static int
placement_auth_header(vtpm_placement_client *client, int attempt, char **header,
                      placement_failure *fail)
{
    const char *token = NULL;

    *header = NULL;
    if (client->conf.auth == VTPM_PLACEMENT_AUTH_TOKEN) {
        token = client->conf.token;
    } else if (client->ks) {
        token = vtpm_keystone_token(client->ks, attempt > 0, &fail->status,
                                    fail->message, sizeof(fail->message));
        if (!token)
            return -1;
    }
    if (token && asprintf(header, "X-Auth-Token: %s", token) < 0)
        vtpm_alloc_abort();
    return 0;
}

/* A request that got no answer. */
static void
placement_fail_transport(vtpm_placement_client *client, const char *method, const char *path,
                         const vtpm_http_response *resp, placement_failure *fail)
{
    if (resp->client_key_error) {
        /* The same files at every attempt: not worth a retry. */
        fail->status = VTPM_PUBLISH_CONFIG;
        vtpm_strfmt(fail->message, sizeof(fail->message), "placement: %s", resp->error);
        return;
    }
    fail->status = VTPM_PUBLISH_UNREACHABLE;
    vtpm_strfmt(fail->message, sizeof(fail->message), "cannot reach placement '%s' (%s %s): %s",
                client->url, method, path, resp->error);
}

/*
 * Sends one request to Placement. Returns 0 when an answer arrived (in
 * @resp, whatever its status; a 401 was answered by renewing a Keystone token
 * once), -1 with @fail filled otherwise.
 */
static int
placement_call(vtpm_placement_client *client, const char *method, const char *path,
               json_t *body, bool versioned, vtpm_http_response *resp,
               placement_failure *fail)
{
    char url[PLACEMENT_URL_MAX + 1024];
    char version[64];
    char *token_header = NULL;
    char *text = NULL;
    const char *headers[6];
    int ret = -1;

    if (placement_ensure_url(client, fail) < 0)
        return -1;
    vtpm_strfmt(url, sizeof(url), "%s%s", client->url, path);
    vtpm_strfmt(version, sizeof(version), "OpenStack-API-Version: placement 1.%d",
                client->microversion);
    if (body)
        text = VTPM_ALLOC_CHECK(json_dumps(body, JSON_COMPACT));

    for (int attempt = 0; attempt < 2; attempt++) {
        size_t n = 0;

        vtpm_free_secret(token_header);
        if (placement_auth_header(client, attempt, &token_header, fail) < 0)
            goto cleanup;
        headers[n++] = "Accept: application/json";
        if (versioned)
            headers[n++] = version;
        if (token_header)
            headers[n++] = token_header;
        if (text)
            headers[n++] = "Content-Type: application/json";
        headers[n] = NULL;

        client->stats.requests++;
        if (vtpm_http_request(client->http, method, url, headers, text, resp) < 0) {
            placement_fail_transport(client, method, path, resp, fail);
            goto cleanup;
        }
        VTPM_DEBUG("placement %s %s: HTTP %ld", method, path, resp->status);
        if (resp->status != 401 || !client->ks || attempt > 0)
            break;
        /* Keystone revoked or expired the token early: renew once. */
        client->stats.renewals++;
        VTPM_INFO("placement rejected the keystone token: renewing it");
        vtpm_keystone_forget(client->ks);
    }
    ret = 0;

cleanup:
    vtpm_free_secret(token_header);
    free(text);
    return ret;
}

/* Parses the answer body as a JSON object; NULL when it is not one. */
static json_t *
placement_json(const vtpm_http_response *resp)
{
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);

    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static int
placement_negotiate(vtpm_placement_client *client, placement_failure *fail)
{
    vtpm_http_response resp = { 0 };
    json_t *root = NULL;
    json_t *v;
    int max, min;
    int ret = -1;

    if (client->microversion)
        return 0;
    if (placement_call(client, "GET", "/", NULL, false, &resp, fail) < 0)
        goto cleanup;
    if (resp.status != 200) {
        placement_fail_answer(client, fail, "GET", "/", &resp);
        goto cleanup;
    }
    root = placement_json(&resp);
    v = json_array_get(json_object_get(root, "versions"), 0);
    max = vtpm_placement_microversion_parse(json_string_value(json_object_get(v, "max_version")));
    min = vtpm_placement_microversion_parse(json_string_value(json_object_get(v, "min_version")));
    if (max < 0) {
        placement_fail_invalid(client, fail, "GET", "/", &resp, "no versions[0].max_version");
        goto cleanup;
    }
    if (max < VTPM_PLACEMENT_MIN_MICROVERSION ||
        (min > VTPM_PLACEMENT_MAX_MICROVERSION)) {
        fail->status = VTPM_PUBLISH_REFUSED;
        vtpm_strfmt(fail->message, sizeof(fail->message),
                    "placement '%s' offers microversions 1.%d to 1.%d: "
                    "this client needs one in 1.%d to 1.%d", client->url,
                    min < 0 ? 0 : min, max, VTPM_PLACEMENT_MIN_MICROVERSION,
                    VTPM_PLACEMENT_MAX_MICROVERSION);
        goto cleanup;
    }
    client->microversion = max < VTPM_PLACEMENT_MAX_MICROVERSION ?
                           max : VTPM_PLACEMENT_MAX_MICROVERSION;
    VTPM_DEBUG("placement '%s': microversion 1.%d (server up to 1.%d)", client->url,
               client->microversion, max);
    ret = 0;

cleanup:
    json_decref(root);
    vtpm_http_response_clear(&resp);
    return ret;
}

/* Asks which managed traits the service knows (GET /traits?name=in:...). */
static int
placement_load_known(vtpm_placement_client *client, placement_failure *fail)
{
    char path[1024];
    size_t o;
    vtpm_http_response resp = { 0 };
    json_t *root = NULL;
    json_t *traits;
    json_t *t;
    size_t i;
    int ret = -1;

    if (client->known_valid)
        return 0;
    o = (size_t)snprintf(path, sizeof(path), "/traits?name=in:");
    for (int tr = 0; tr < VTPM_TRAIT_COUNT && o < sizeof(path); tr++) {
        /* The names are [A-Z0-9_]: nothing to escape. */
        int n = snprintf(path + o, sizeof(path) - o, "%s%s", tr ? "," : "",
                         vtpm_trait_name(tr));

        if (n > 0)
            o += (size_t)n;
    }
    if (placement_call(client, "GET", path, NULL, true, &resp, fail) < 0)
        goto cleanup;
    if (resp.status != 200) {
        placement_fail_answer(client, fail, "GET", "/traits", &resp);
        goto cleanup;
    }
    root = placement_json(&resp);
    traits = json_object_get(root, "traits");
    if (!json_is_array(traits)) {
        placement_fail_invalid(client, fail, "GET", "/traits", &resp, "no traits list");
        goto cleanup;
    }
    client->known = 0;
    json_array_foreach(traits, i, t) {
        int tr = vtpm_trait_from_name(json_string_value(t));

        if (tr >= 0)
            client->known |= VTPM_TRAITSET_BIT(tr);
    }
    client->known_valid = true;
    ret = 0;

cleanup:
    json_decref(root);
    vtpm_http_response_clear(&resp);
    return ret;
}

/*
 * Keeps @uuid, from the answer @resp to @method /resource_providers, as the
 * provider's. Returns 0, or -1 with @fail set when it is not a UUID.
 */
static int
placement_take_uuid(vtpm_placement_client *client, placement_failure *fail,
                    const char *method, const vtpm_http_response *resp, const char *uuid)
{
    if (!vtpm_uuid_text_valid(uuid)) {
        placement_fail_invalid(client, fail, method, "/resource_providers", resp,
                               "no provider uuid");
        return -1;
    }
    vtpm_strfmt(client->provider_uuid, sizeof(client->provider_uuid), "%s", uuid);
    return 0;
}

/* Creates the provider; on success stores its UUID in the client's cache. */
static int
placement_create_provider(vtpm_placement_client *client, const char *name,
                          const char *uuid, placement_failure *fail)
{
    vtpm_http_response resp = { 0 };
    json_t *body = VTPM_ALLOC_CHECK(json_pack("{s:s}", "name", name));
    json_t *root = NULL;
    const char *got;
    int ret = -1;

    if (uuid && *uuid &&
        json_object_set_new(body, "uuid", VTPM_ALLOC_CHECK(json_string(uuid))) < 0)
        vtpm_alloc_abort();
    if (placement_call(client, "POST", "/resource_providers", body, true, &resp, fail) < 0)
        goto cleanup;
    if (resp.status == 201 && client->microversion < PLACEMENT_MV_CREATE_RETURNS_BODY) {
        /* Before 1.20 the answer has no body: the caller looks it up again. */
        ret = 1;
        goto cleanup;
    }
    if (resp.status != 200 && resp.status != 201) {
        placement_fail_answer(client, fail, "POST", "/resource_providers", &resp);
        ret = resp.status == 409 ? 1 : -1;
        goto cleanup;
    }
    root = placement_json(&resp);
    got = json_string_value(json_object_get(root, "uuid"));
    if (placement_take_uuid(client, fail, "POST", &resp, got) < 0)
        goto cleanup;
    VTPM_INFO("placement: created resource provider '%s' (%s)", name, got);
    ret = 0;

cleanup:
    json_decref(body);
    json_decref(root);
    vtpm_http_response_clear(&resp);
    return ret;
}

/* Looks the provider up by name. Returns 0 found, 1 not found, -1 failure. */
static int
placement_find_by_name(vtpm_placement_client *client, const char *name,
                       placement_failure *fail)
{
    vtpm_http_response resp = { 0 };
    json_t *root = NULL;
    json_t *list;
    char *escaped = vtpm_http_escape(client->http, name);
    char path[1024];
    const char *uuid;
    int ret = -1;

    vtpm_strfmt(path, sizeof(path), "/resource_providers?name=%s", escaped);
    if (placement_call(client, "GET", path, NULL, true, &resp, fail) < 0)
        goto cleanup;
    if (resp.status != 200) {
        placement_fail_answer(client, fail, "GET", "/resource_providers", &resp);
        goto cleanup;
    }
    root = placement_json(&resp);
    list = json_object_get(root, "resource_providers");
    if (!json_is_array(list)) {
        placement_fail_invalid(client, fail, "GET", "/resource_providers", &resp,
                               "no resource_providers list");
        goto cleanup;
    }
    if (json_array_size(list) == 0) {
        ret = 1;
        goto cleanup;
    }
    uuid = json_string_value(json_object_get(json_array_get(list, 0), "uuid"));
    if (placement_take_uuid(client, fail, "GET", &resp, uuid) < 0)
        goto cleanup;
    ret = 0;

cleanup:
    free(escaped);
    json_decref(root);
    vtpm_http_response_clear(&resp);
    return ret;
}

/* Checks that the provider with @uuid exists. Returns 0 yes, 1 no, -1 failure. */
static int
placement_find_by_uuid(vtpm_placement_client *client, const char *uuid,
                       placement_failure *fail)
{
    vtpm_http_response resp = { 0 };
    char path[128];
    int ret = -1;

    vtpm_strfmt(path, sizeof(path), "/resource_providers/%s", uuid);
    if (placement_call(client, "GET", path, NULL, true, &resp, fail) < 0)
        goto cleanup;
    if (resp.status == 404) {
        ret = 1;
    } else if (resp.status != 200) {
        placement_fail_answer(client, fail, "GET", path, &resp);
    } else {
        vtpm_strfmt(client->provider_uuid, sizeof(client->provider_uuid), "%s", uuid);
        ret = 0;
    }

cleanup:
    vtpm_http_response_clear(&resp);
    return ret;
}

/* Resolves the provider of @report into client->provider_uuid. */
static int
placement_resolve_provider(vtpm_placement_client *client, const vtpm_report *report,
                           placement_failure *fail)
{
    const char *name = placement_conf_has(client->conf.provider_name) ?
                       client->conf.provider_name : report->host;
    const char *uuid = placement_conf_has(client->conf.provider_uuid) ?
                       client->conf.provider_uuid : report->provider_uuid;
    int r;

    if (client->provider_uuid[0] && strcmp(client->provider_name, name) == 0 &&
        (!uuid[0] || strcmp(client->provider_uuid, uuid) == 0))
        return 0;
    client->provider_uuid[0] = '\0';
    vtpm_strfmt(client->provider_name, sizeof(client->provider_name), "%s", name);

    if (uuid[0]) {
        char q[64];

        if (!vtpm_uuid_text_valid(uuid)) {
            fail->status = VTPM_PUBLISH_CONFIG;
            vtpm_strfmt(fail->message, sizeof(fail->message),
                        "provider uuid %s is not a UUID", vtpm_quote(q, sizeof(q), uuid));
            return -1;
        }
        /* Trusted without a request: a missing provider shows as a 404 on
         * its traits, which vtpm_placement_publish() handles. */
        vtpm_strfmt(client->provider_uuid, sizeof(client->provider_uuid), "%s", uuid);
        return 0;
    } else {
        if (!name[0]) {
            fail->status = VTPM_PUBLISH_CONFIG;
            vtpm_strfmt(fail->message, sizeof(fail->message),
                        "no provider name or uuid to publish to");
            return -1;
        }
        r = placement_find_by_name(client, name, fail);
        if (r <= 0)
            return r;
    }
    if (!client->conf.create_provider) {
        fail->status = VTPM_PUBLISH_REFUSED;
        vtpm_strfmt(fail->message, sizeof(fail->message),
                    "placement '%s' has no resource provider '%s'%s%s "
                    "(create_provider is off)", client->url, name,
                    uuid[0] ? " with uuid " : "", uuid);
        return -1;
    }
    if (!name[0]) {
        fail->status = VTPM_PUBLISH_CONFIG;
        vtpm_strfmt(fail->message, sizeof(fail->message),
                    "cannot create a provider without a name");
        return -1;
    }
    r = placement_create_provider(client, name, uuid, fail);
    if (r <= 0)
        return r;
    /* Created meanwhile by another reporter (409), or no body before 1.20. */
    r = uuid[0] ? placement_find_by_uuid(client, uuid, fail)
                : placement_find_by_name(client, name, fail);
    if (r == 1) {
        /* A 409 about something else (its message is kept), or gone again. */
        if (!fail->message[0]) {
            fail->status = VTPM_PUBLISH_REFUSED;
            vtpm_strfmt(fail->message, sizeof(fail->message),
                        "placement '%s': provider '%s' not found after creating it",
                        client->url, name);
        }
        return -1;
    }
    return r;
}

vtpm_traitset
vtpm_placement_traits_merge(json_t *current, vtpm_traitset want, json_t **out)
{
    vtpm_traitset have = 0;
    json_t *list = VTPM_ALLOC_CHECK(json_array());
    json_t *t;
    size_t i;

    json_array_foreach(current, i, t) {
        const char *name = json_string_value(t);
        int tr = vtpm_trait_from_name(name);

        if (!name)
            continue;
        if (tr >= 0)
            have |= VTPM_TRAITSET_BIT(tr);
        else if (json_array_append(list, t) < 0)
            vtpm_alloc_abort();
    }
    for (int tr = 0; tr < VTPM_TRAIT_COUNT; tr++) {
        if ((want & VTPM_TRAITSET_BIT(tr)) &&
            json_array_append_new(list, VTPM_ALLOC_CHECK(json_string(vtpm_trait_name(tr)))) < 0)
            vtpm_alloc_abort();
    }
    *out = list;
    return have;
}

/* "+A -B" for a message. */
static void
placement_describe_change(vtpm_traitset before, vtpm_traitset after, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int tr = 0; tr < VTPM_TRAIT_COUNT; tr++) {
        vtpm_traitset bit = VTPM_TRAITSET_BIT(tr);
        char sign = (after & bit) && !(before & bit) ? '+' :
                    (before & bit) && !(after & bit) ? '-' : 0;

        if (sign && o < len) {
            int n = snprintf(buf + o, len - o, "%s%c%s", o ? " " : "", sign,
                             vtpm_trait_name(tr));

            if (n > 0)
                o += (size_t)n;
        }
    }
}

/*
 * Finds the managed traits named in a 400 "No such trait A, B" detail.
 * Returns their set (0 when the 400 is about something else).
 */
static vtpm_traitset
placement_unknown_in(const char *detail)
{
    vtpm_traitset set = 0;
    const char *p = detail ? strstr(detail, "No such trait") : NULL;

    if (!p)
        return 0;
    for (int tr = 0; tr < VTPM_TRAIT_COUNT; tr++) {
        const char *name = vtpm_trait_name(tr);
        size_t n = strlen(name);

        for (const char *q = strstr(p, name); q; q = strstr(q + 1, name)) {
            char after = q[n];

            if (!(isalnum((unsigned char)after) || after == '_')) {
                set |= VTPM_TRAITSET_BIT(tr);
                break;
            }
        }
    }
    return set;
}

static void
placement_backoff(vtpm_placement_client *client, unsigned int attempt)
{
    double delay = client->conf.retry_delay;

    for (unsigned int i = 0; i < attempt && delay < PLACEMENT_BACKOFF_MAX; i++)
        delay *= 2;
    if (delay > PLACEMENT_BACKOFF_MAX)
        delay = PLACEMENT_BACKOFF_MAX;
    /* Jitter, so that reporters that met do not meet again. */
    delay *= 0.5 + 0.5 * ((double)rand_r(&client->seed) / (double)RAND_MAX);
    vtpm_clock_sleep(delay);
}

static void
placement_warn_unknown(vtpm_placement_client *client, vtpm_traitset unknown,
                       vtpm_publish_result *result)
{
    for (int tr = 0; tr < VTPM_TRAIT_COUNT; tr++) {
        if (unknown & VTPM_TRAITSET_BIT(tr)) {
            VTPM_WARN("placement '%s' does not know trait %s: not published",
                      client->url, vtpm_trait_name(tr));
            result->warnings++;
        }
    }
}

static vtpm_publish_status
placement_finish(vtpm_publish_result *result, vtpm_publish_status status)
{
    result->status = status;
    return status;
}

/* One publish: what the rounds of GET, PUT and retry share. */
typedef struct {
    vtpm_placement_client *client;
    vtpm_publish_result *result;
    placement_failure fail;
    vtpm_http_response resp;
    vtpm_traitset wanted;       /* the report's traits */
    vtpm_traitset skipped;      /* of those, unknown to the service (warned once) */
    unsigned int conflicts;
    bool missing_handled;
    char path[128];             /* the provider's traits */
    char skipped_text[64];
} placement_publish_ctx;

/* What a step of a publish leads to. */
typedef enum {
    PUBLISH_STEP_NEXT,    /* go on with the next step */
    PUBLISH_STEP_AGAIN,   /* start a new round: read the traits again */
    PUBLISH_STEP_DONE,    /* published, or nothing to change */
    PUBLISH_STEP_FAILED,  /* failed, as ctx->fail says */
} placement_publish_step;

/* The provider is gone (404 on its traits): create it again with its uuid,
 * when the configuration allows it. */
static placement_publish_step
publish_provider_missing(placement_publish_ctx *ctx)
{
    vtpm_placement_client *client = ctx->client;
    char uuid[sizeof(client->provider_uuid)];

    ctx->missing_handled = true;
    vtpm_strfmt(uuid, sizeof(uuid), "%s", client->provider_uuid);
    client->provider_uuid[0] = '\0';   /* look it up again next time */
    if (!client->conf.create_provider) {
        ctx->fail.status = VTPM_PUBLISH_REFUSED;
        vtpm_strfmt(ctx->fail.message, sizeof(ctx->fail.message),
                    "placement '%s' has no resource provider '%s' with uuid %s "
                    "(create_provider is off)", client->url, client->provider_name, uuid);
        return PUBLISH_STEP_FAILED;
    }
    if (placement_create_provider(client, client->provider_name, uuid, &ctx->fail) < 0)
        return PUBLISH_STEP_FAILED;
    /* Or 1: created by someone else meanwhile, or no body before 1.20. */
    vtpm_strfmt(client->provider_uuid, sizeof(client->provider_uuid), "%s", uuid);
    return PUBLISH_STEP_AGAIN;
}

/* Reads the provider's traits and generation; @list gets the traits to PUT
 * (the unmanaged ones kept, the managed ones from @publish). */
static placement_publish_step
publish_read(placement_publish_ctx *ctx, vtpm_traitset publish, long long *generation,
             vtpm_traitset *have, json_t **list)
{
    vtpm_placement_client *client = ctx->client;
    json_t *root, *gen_json;

    if (placement_call(client, "GET", ctx->path, NULL, true, &ctx->resp, &ctx->fail) < 0)
        return PUBLISH_STEP_FAILED;
    if (ctx->resp.status == 404 && !ctx->missing_handled)
        return publish_provider_missing(ctx);
    if (ctx->resp.status == 404)
        client->provider_uuid[0] = '\0';
    if (ctx->resp.status != 200) {
        placement_fail_answer(client, &ctx->fail, "GET", ctx->path, &ctx->resp);
        return PUBLISH_STEP_FAILED;
    }
    root = placement_json(&ctx->resp);
    gen_json = json_object_get(root, "resource_provider_generation");
    if (!json_is_array(json_object_get(root, "traits")) || !json_is_integer(gen_json)) {
        placement_fail_invalid(client, &ctx->fail, "GET", ctx->path, &ctx->resp,
                               "no traits and generation");
        json_decref(root);
        return PUBLISH_STEP_FAILED;
    }
    *generation = json_integer_value(gen_json);
    *have = vtpm_placement_traits_merge(json_object_get(root, "traits"), publish, list);
    json_decref(root);
    if (!ctx->result->placement_read) {
        /* the first read only: later ones may see this publish's own PUT */
        ctx->result->placement_read = true;
        ctx->result->placement_before = *have;
        ctx->result->placement_known = client->known;
    }
    return PUBLISH_STEP_NEXT;
}

/* The PUT was not taken: another writer got there first (read again, up to
 * the retries), or the service does not know some traits (publish the rest). */
static placement_publish_step
publish_put_refused(placement_publish_ctx *ctx)
{
    vtpm_placement_client *client = ctx->client;
    const vtpm_http_response *resp = &ctx->resp;
    char code[64], detail[400];

    vtpm_placement_error_text(resp->status, resp->body, detail, sizeof(detail),
                              code, sizeof(code));
    if ((resp->status == 409 &&
         (strcmp(code, "placement.concurrent_update") == 0 ||
          (client->microversion < PLACEMENT_MV_ERROR_CODES && !code[0]))) ||
        (resp->status == 500 && (strstr(detail, PLACEMENT_CONCURRENT_500) ||
                                 strstr(resp->body, PLACEMENT_ABORTED_500)))) {
        client->stats.conflicts++;
        if (ctx->conflicts++ >= client->conf.retries) {
            ctx->fail.status = VTPM_PUBLISH_UNREACHABLE;
            vtpm_strfmt(ctx->fail.message, sizeof(ctx->fail.message),
                        "placement: provider '%s' (%s) kept changing: gave up after "
                        "%u concurrent updates", client->provider_name,
                        client->provider_uuid, ctx->conflicts);
            return PUBLISH_STEP_FAILED;
        }
        VTPM_DEBUG("placement: provider '%s' changed meanwhile: re-reading",
                   client->provider_name);
        placement_backoff(client, ctx->conflicts - 1);
        return PUBLISH_STEP_AGAIN;
    }
    if (resp->status == 400) {
        json_t *err_root = json_loads(resp->body, 0, NULL);
        const char *d = json_string_value(json_object_get(
            json_array_get(json_object_get(err_root, "errors"), 0), "detail"));
        vtpm_traitset unknown = placement_unknown_in(d) & client->known;

        json_decref(err_root);
        if (unknown) {
            /* The service lost (or never had) these: publish the rest. */
            client->known &= ~unknown;
            return PUBLISH_STEP_AGAIN;
        }
    }
    placement_fail_answer(client, &ctx->fail, "PUT", ctx->path, resp);
    return PUBLISH_STEP_FAILED;
}

/* PUTs @list at @generation; @have and @publish say what changes. */
static placement_publish_step
publish_put(placement_publish_ctx *ctx, json_t *list, long long generation,
            vtpm_traitset have, vtpm_traitset publish)
{
    vtpm_placement_client *client = ctx->client;
    vtpm_publish_result *result = ctx->result;
    json_t *body, *root, *gen_json;
    char change[400];
    int rc;

    if (client->before_put)
        client->before_put(client->before_put_opaque);
    body = VTPM_ALLOC_CHECK(json_pack("{s:O, s:I}", "traits", list,
                                      "resource_provider_generation", (json_int_t)generation));
    client->stats.trait_puts++;
    rc = placement_call(client, "PUT", ctx->path, body, true, &ctx->resp, &ctx->fail);
    json_decref(body);
    if (rc < 0)
        return PUBLISH_STEP_FAILED;
    if (ctx->resp.status != 200)
        return publish_put_refused(ctx);
    root = placement_json(&ctx->resp);
    gen_json = json_object_get(root, "resource_provider_generation");
    result->generation = json_is_integer(gen_json) ? json_integer_value(gen_json) : -1;
    json_decref(root);
    placement_describe_change(have, publish, change, sizeof(change));
    vtpm_strfmt(result->message, sizeof(result->message),
                "placement: provider '%s' (%s) %s at generation %lld%s",
                client->provider_name, client->provider_uuid, change,
                result->generation, ctx->skipped_text);
    return PUBLISH_STEP_DONE;
}

/* One round: read the traits, then PUT them when they differ. */
static placement_publish_step
publish_round(placement_publish_ctx *ctx, vtpm_publish_status *status)
{
    vtpm_placement_client *client = ctx->client;
    vtpm_traitset publish = ctx->wanted & client->known, have = 0;
    long long generation = 0;
    json_t *list = NULL;
    placement_publish_step step;

    if (ctx->wanted & ~client->known & ~ctx->skipped) {
        placement_warn_unknown(client, ctx->wanted & ~client->known & ~ctx->skipped,
                               ctx->result);
        ctx->skipped |= ctx->wanted & ~client->known;
    }
    step = publish_read(ctx, publish, &generation, &have, &list);
    if (step != PUBLISH_STEP_NEXT)
        return step;
    if (ctx->skipped)
        vtpm_strfmt(ctx->skipped_text, sizeof(ctx->skipped_text),
                    "; %u unknown to placement skipped", vtpm_traitset_count(ctx->skipped));
    if (have == publish) {
        ctx->result->generation = generation;
        vtpm_strfmt(ctx->result->message, sizeof(ctx->result->message),
                    "placement: provider '%s' (%s) unchanged at generation %lld%s",
                    client->provider_name, client->provider_uuid, generation,
                    ctx->skipped_text);
        *status = VTPM_PUBLISH_UNCHANGED;
        step = PUBLISH_STEP_DONE;
    } else {
        step = publish_put(ctx, list, generation, have, publish);
        *status = VTPM_PUBLISH_CHANGED;
    }
    json_decref(list);
    return step;
}

vtpm_publish_status
vtpm_placement_publish(vtpm_placement_client *client, const vtpm_report *report,
                       vtpm_publish_result *result)
{
    placement_publish_ctx ctx = {
        .client = client,
        .result = result,
        .fail = { .status = VTPM_PUBLISH_UNREACHABLE },
        .wanted = vtpm_report_present(report),
    };
    vtpm_publish_status status = VTPM_PUBLISH_UNREACHABLE;
    placement_publish_step step;

    memset(result, 0, sizeof(*result));
    result->generation = -1;
    if (report->inconclusive) {
        vtpm_strfmt(result->message, sizeof(result->message),
                    "placement: nothing changed: probe inconclusive: %s",
                    report->inconclusive_reason[0] ? report->inconclusive_reason :
                                                     "no reason given");
        return placement_finish(result, VTPM_PUBLISH_INCONCLUSIVE);
    }
    if (placement_negotiate(client, &ctx.fail) < 0 ||
        placement_resolve_provider(client, report, &ctx.fail) < 0 ||
        placement_load_known(client, &ctx.fail) < 0) {
        step = PUBLISH_STEP_FAILED;
    } else {
        vtpm_strfmt(ctx.path, sizeof(ctx.path), "/resource_providers/%s/traits",
                    client->provider_uuid);
        while ((step = publish_round(&ctx, &status)) == PUBLISH_STEP_AGAIN)
            ;
    }
    if (step == PUBLISH_STEP_FAILED) {
        vtpm_strfmt(result->message, sizeof(result->message), "%s", ctx.fail.message);
        status = ctx.fail.status;
    }
    vtpm_http_response_clear(&ctx.resp);
    return placement_finish(result, status);
}

static void *
publisher_placement_open(const vtpm_conf *conf, char *err, size_t errlen)
{
    return vtpm_placement_client_new(&conf->placement, err, errlen);
}

static vtpm_publish_status
publisher_placement_publish(void *state, const vtpm_report *report, vtpm_publish_result *out)
{
    return vtpm_placement_publish(state, report, out);
}

static void
publisher_placement_close(void *state)
{
    vtpm_placement_client_free(state);
}

const vtpm_publisher_ops vtpm_publisher_placement = {
    .name = "placement",
    .open = publisher_placement_open,
    .publish = publisher_placement_publish,
    .close = publisher_placement_close,
};
