/* SPDX-License-Identifier: Apache-2.0 */
/* Keystone v3 token requests and the token cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alloc.h"
#include "keystone.h"
#include "log.h"
#include "util.h"

struct vtpm_keystone {
    vtpm_keystone_conf conf;
    vtpm_http *http;
    char *token;
    time_t expires;         /* 0: unknown, treated as "valid until a 401" */
    json_t *catalog;        /* of the current token, may be NULL */
    unsigned int requests;
};

vtpm_keystone *
vtpm_keystone_new(const vtpm_keystone_conf *conf, vtpm_http *http)
{
    vtpm_keystone *ks = vtpm_alloc_calloc(1, sizeof(*ks));

    ks->conf = *conf;
    ks->http = http;
    return ks;
}

void
vtpm_keystone_forget(vtpm_keystone *ks)
{
    if (!ks)
        return;
    /* The token is a credential: do not leave it in freed memory. */
    vtpm_free_secret(ks->token);
    ks->token = NULL;
    ks->expires = 0;
    json_decref(ks->catalog);
    ks->catalog = NULL;
}

void
vtpm_keystone_free(vtpm_keystone *ks)
{
    if (!ks)
        return;
    vtpm_keystone_forget(ks);
    free(ks);
}

unsigned int
vtpm_keystone_requests(const vtpm_keystone *ks)
{
    return ks->requests;
}

time_t
vtpm_keystone_parse_time(const char *s)
{
    struct tm tm;
    const char *rest;

    if (!s)
        return -1;
    memset(&tm, 0, sizeof(tm));
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') {
        rest++;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    /* Keystone answers in UTC ("Z"); an explicit +00:00 is the same. */
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "") != 0 &&
        strcmp(rest, "+00:00") != 0 && strcmp(rest, "+0000") != 0)
        return -1;
    return timegm(&tm);
}

static json_t *
keystone_name_or_id(const char *name, const char *id, const char *domain)
{
    if (id && *id)
        return json_pack("{s:s}", "id", id);
    return json_pack("{s:s, s:{s:s}}", "name", name ? name : "",
                     "domain", "name", domain && *domain ? domain : "Default");
}

static json_t *
keystone_auth_body(const vtpm_keystone_conf *c)
{
    json_t *identity;
    json_t *auth;

    if (c->application_credential) {
        json_t *cred;

        if (c->application_credential_id && *c->application_credential_id) {
            cred = json_pack("{s:s, s:s}", "id", c->application_credential_id,
                             "secret", c->application_credential_secret ?
                                 c->application_credential_secret : "");
        } else {
            cred = json_pack("{s:s, s:s, s:o}",
                             "name", c->application_credential_name ?
                                 c->application_credential_name : "",
                             "secret", c->application_credential_secret ?
                                 c->application_credential_secret : "",
                             "user", keystone_name_or_id(c->username, c->user_id,
                                                         c->user_domain_name));
        }
        identity = json_pack("{s:[s], s:o}", "methods", "application_credential",
                             "application_credential", cred);
        /* An application credential carries its own scope. */
        return json_pack("{s:{s:o}}", "auth", "identity", identity);
    }
    identity = VTPM_ALLOC_CHECK(json_pack("{s:[s], s:{s:o}}", "methods", "password",
                                          "password", "user",
                                          keystone_name_or_id(c->username, c->user_id,
                                                              c->user_domain_name)));
    if (json_object_set_new(json_object_get(json_object_get(identity, "password"), "user"),
                            "password",
                            VTPM_ALLOC_CHECK(json_string(c->password ? c->password : ""))) < 0)
        vtpm_alloc_abort();
    auth = VTPM_ALLOC_CHECK(json_pack("{s:o}", "identity", identity));
    if (((c->project_name && *c->project_name) || (c->project_id && *c->project_id)) &&
        json_object_set_new(auth, "scope",
                            VTPM_ALLOC_CHECK(json_pack(
                                "{s:o}", "project",
                                keystone_name_or_id(c->project_name, c->project_id,
                                                    c->project_domain_name)))) < 0)
        vtpm_alloc_abort();
    return json_pack("{s:o}", "auth", auth);
}

/* Keystone's own error text: {"error": {"code": 401, "title": .., "message": ..}}. */
static void
keystone_error_text(const vtpm_http_response *resp, char *buf, size_t len)
{
    json_t *root = json_loads(resp->body, 0, NULL);
    json_t *error = json_object_get(root, "error");
    const char *msg = json_string_value(json_object_get(error, "message"));
    const char *title = json_string_value(json_object_get(error, "title"));
    char quoted[160];

    if (msg || title)
        vtpm_strfmt(buf, len, "HTTP %ld %s: %s", resp->status, title ? title : "",
                    msg ? msg : "");
    else
        vtpm_strfmt(buf, len, "HTTP %ld %s", resp->status,
                    vtpm_quote(quoted, sizeof(quoted), resp->body));
    json_decref(root);
}

static char *
keystone_tokens_url(const char *auth_url)
{
    size_t n = strlen(auth_url);
    char buf[2048];

    while (n > 0 && auth_url[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(auth_url + n - 3, "/v3", 3) == 0)
        snprintf(buf, sizeof(buf), "%.*s/auth/tokens", (int)n, auth_url);
    else
        snprintf(buf, sizeof(buf), "%.*s/v3/auth/tokens", (int)n, auth_url);
    return vtpm_alloc_strdup(buf);
}

/* Why the token request to @url got no token. Returns false when it got one. */
static bool
keystone_answer_failed(int rc, const vtpm_http_response *resp, const char *url,
                       vtpm_publish_status *status, char *err, size_t errlen)
{
    char detail[384];

    if (rc < 0 && resp->client_key_error) {
        *status = VTPM_PUBLISH_CONFIG;
        vtpm_strfmt(err, errlen, "keystone '%s': %s", url, resp->error);
    } else if (rc < 0) {
        *status = VTPM_PUBLISH_UNREACHABLE;
        vtpm_strfmt(err, errlen, "cannot reach keystone '%s': %s", url, resp->error);
    } else if (resp->status != 201 && resp->status != 200) {
        keystone_error_text(resp, detail, sizeof(detail));
        *status = resp->status >= 500 ? VTPM_PUBLISH_UNREACHABLE : VTPM_PUBLISH_REFUSED;
        vtpm_strfmt(err, errlen, "keystone '%s' refused the credentials: %s", url, detail);
    } else if (!resp->subject_token || !*resp->subject_token) {
        *status = VTPM_PUBLISH_UNREACHABLE;
        vtpm_strfmt(err, errlen, "keystone '%s' answered without an X-Subject-Token", url);
    } else {
        return false;
    }
    return true;
}

/* Keeps the token of @resp, its expiry and the service catalog. */
static void
keystone_take_token(vtpm_keystone *ks, vtpm_http_response *resp)
{
    json_t *root = json_loads(resp->body, 0, NULL);
    json_t *token = json_object_get(root, "token");
    const char *expires = json_string_value(json_object_get(token, "expires_at"));

    ks->expires = 0;
    if (expires) {
        time_t t = vtpm_keystone_parse_time(expires);

        if (t > 0)
            ks->expires = t;
        else
            VTPM_WARN("keystone token expiry '%s' not understood: "
                      "token kept until rejected", expires);
    }
    ks->catalog = json_incref(json_object_get(token, "catalog"));
    ks->token = vtpm_steal_pointer(&resp->subject_token);
    json_decref(root);
}

const char *
vtpm_keystone_token(vtpm_keystone *ks, bool renew, vtpm_publish_status *status,
                    char *err, size_t errlen)
{
    static const char *const headers[] = {
        "Content-Type: application/json", "Accept: application/json", NULL
    };
    vtpm_http_response resp = { 0 };
    json_t *body;
    char *text, *url;
    time_t now = time(NULL);
    int rc;

    if (ks->token && !renew &&
        (ks->expires == 0 || now + VTPM_KEYSTONE_EXPIRY_MARGIN < ks->expires))
        return ks->token;
    vtpm_keystone_forget(ks);

    if (!ks->conf.auth_url || !*ks->conf.auth_url) {
        *status = VTPM_PUBLISH_CONFIG;
        vtpm_strfmt(err, errlen, "keystone authentication needs an auth_url");
        return NULL;
    }
    body = VTPM_ALLOC_CHECK(keystone_auth_body(&ks->conf));
    text = VTPM_ALLOC_CHECK(json_dumps(body, JSON_COMPACT));
    url = keystone_tokens_url(ks->conf.auth_url);
    ks->requests++;
    VTPM_DEBUG("requesting a token from keystone '%s'", url);
    rc = vtpm_http_request(ks->http, "POST", url, headers, text, &resp);
    if (!keystone_answer_failed(rc, &resp, url, status, err, errlen))
        keystone_take_token(ks, &resp);
    /* The body holds the password or the secret. */
    vtpm_free_secret(text);
    json_decref(body);
    free(url);
    vtpm_http_response_clear(&resp);
    return ks->token;
}

const char *
vtpm_keystone_endpoint(vtpm_keystone *ks, const char *service_type)
{
    const char *want = ks->conf.interface && *ks->conf.interface ?
                       ks->conf.interface : "public";
    size_t i, j;
    json_t *svc, *ep;

    json_array_foreach(ks->catalog, i, svc) {
        if (!json_is_string(json_object_get(svc, "type")) ||
            strcmp(json_string_value(json_object_get(svc, "type")), service_type) != 0)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
            const char *iface = json_string_value(json_object_get(ep, "interface"));
            const char *region = json_string_value(json_object_get(ep, "region_id"));

            if (!region)
                region = json_string_value(json_object_get(ep, "region"));
            if (!iface || strcmp(iface, want) != 0)
                continue;
            if (ks->conf.region && *ks->conf.region &&
                (!region || strcmp(region, ks->conf.region) != 0))
                continue;
            if (json_is_string(json_object_get(ep, "url")))
                return json_string_value(json_object_get(ep, "url"));
        }
    }
    return NULL;
}
