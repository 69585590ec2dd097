/* SPDX-License-Identifier: Apache-2.0 */
/* The system probe: users and groups through NSS, the key manager through libcurl. */
#include "probe_system.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

#define KEY_MANAGER_BODY_MAX (64 * 1024)

/* 1: exists, 0: does not, -1: cannot tell (errno set). */
static int
user_exists(const char *name)
{
    size_t size = 1024;

    for (;;) {
        struct passwd pw, *res = NULL;
        char *buf = vtpm_alloc_calloc(1, size);
        int rc;

        rc = getpwnam_r(name, &pw, buf, size, &res);
        free(buf);
        if (rc == ERANGE && size < (1u << 20)) {
            size *= 4;
            continue;
        }
        if (rc == 0)
            return res ? 1 : 0;
        /* Several NSS modules report "not found" as one of these. */
        if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
            return 0;
        errno = rc;
        return -1;
    }
}

static int
group_exists(const char *name)
{
    size_t size = 1024;

    for (;;) {
        struct group gr, *res = NULL;
        char *buf = vtpm_alloc_calloc(1, size);
        int rc;

        rc = getgrnam_r(name, &gr, buf, size, &res);
        free(buf);
        if (rc == ERANGE && size < (1u << 20)) {
            size *= 4;
            continue;
        }
        if (rc == 0)
            return res ? 1 : 0;
        if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
            return 0;
        errno = rc;
        return -1;
    }
}

typedef struct {
    char *buf;
    size_t len;
    bool truncated;
} body;

static size_t
body_write(char *data, size_t size, size_t nmemb, void *opaque)
{
    body *b = opaque;
    size_t n = size * nmemb, room;
    char *nb;

    if (b->len >= KEY_MANAGER_BODY_MAX) {
        b->truncated = true;
        return n;
    }
    room = KEY_MANAGER_BODY_MAX - b->len;
    if (n > room) {
        b->truncated = true;
        n = room;
    }
    nb = vtpm_alloc_realloc(b->buf, b->len + n + 1);
    memcpy(nb + b->len, data, n);
    b->buf = nb;
    b->len += n;
    b->buf[b->len] = '\0';
    return size * nmemb;
}

/* libcurl reads the bundle only for https, and then calls a missing one
 * "error setting certificate file", which read as "unreachable": name the
 * setting instead, whatever the URL. Returns false with the reason in @out. */
static bool
key_manager_ca_file_check(const char *ca_file, vtpm_system_facts *out)
{
    struct stat st;
    int fd = open(ca_file, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "cannot read key_manager.ca_file '%s': %s", ca_file, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key_manager.ca_file '%s' is not a file", ca_file);
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

/* A GET of @url into @b, bounded by @timeout seconds. */
static void
key_manager_request_setup(CURL *curl, const char *url, const char *ca_file, double timeout,
                          struct curl_slist *headers, char *curl_err, body *b)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "vtpm-reporter");
    if (ca_file && *ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
}

/* True when the answer is a versions document (HTTP 200 or 300). */
static bool
key_manager_answer_check(long code, const body *b, const char *quoted, vtpm_system_facts *out)
{
    json_t *doc;
    bool ok;

    if (code != 200 && code != 300) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s answered HTTP %ld", quoted, code);
        return false;
    }
    doc = b->buf ? json_loadb(b->buf, b->len, 0, NULL) : NULL;
    ok = json_is_object(doc) && json_object_get(doc, "versions");
    json_decref(doc);
    if (!ok)
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s answered HTTP %ld without a versions document",
                    quoted, code);
    return ok;
}

void
vtpm_system_key_manager_check(const char *url, const char *ca_file, double timeout,
                              vtpm_system_facts *out)
{
    char curl_err[CURL_ERROR_SIZE] = "", quoted[200];
    struct curl_slist *headers;
    body b = {0};
    CURL *curl;
    CURLcode cc;
    long code = 0;

    out->key_manager_checked = true;
    out->key_manager_reachable = false;
    out->key_manager_http_status = 0;
    out->key_manager_status = VTPM_PROBE_INCONCLUSIVE;
    vtpm_quote(quoted, sizeof(quoted), url ? url : "");
    if (!url || !*url) {
        out->key_manager_status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager check asked for, but no endpoint URL is configured");
        return;
    }
    if (timeout <= 0)
        timeout = 5;
    /* Still inconclusive: a wrong path must not take the traits away. */
    if (ca_file && *ca_file && !key_manager_ca_file_check(ca_file, out))
        return;

    /* Both fail only for want of memory. */
    curl = VTPM_ALLOC_CHECK(curl_easy_init());
    headers = VTPM_ALLOC_CHECK(curl_slist_append(NULL, "Accept: application/json"));
    key_manager_request_setup(curl, url, ca_file, timeout, headers, curl_err, &b);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s unreachable: %s", quoted,
                    curl_err[0] ? curl_err : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        out->key_manager_http_status = code;
        if (key_manager_answer_check(code, &b, quoted, out)) {
            out->key_manager_reachable = true;
            out->key_manager_status = VTPM_PROBE_OK;
            out->key_manager_error[0] = '\0';
        }
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(b.buf);
}

void
vtpm_system_probe(const vtpm_conf *conf, vtpm_system_facts *out)
{
    const char *user = conf->swtpm_user ? conf->swtpm_user : "tss";
    const char *group = conf->swtpm_group ? conf->swtpm_group : "tss";
    int u, g;

    vtpm_strfmt(out->user, sizeof(out->user), "%s", user);
    vtpm_strfmt(out->group, sizeof(out->group), "%s", group);
    u = user_exists(user);
    if (u < 0 && errno == ENOMEM)
        vtpm_alloc_abort();
    g = group_exists(group);
    if (g < 0 && errno == ENOMEM)
        vtpm_alloc_abort();
    out->user_exists = u == 1;
    out->group_exists = g == 1;
    if (u < 0 || g < 0) {
        out->status = VTPM_PROBE_INCONCLUSIVE;
        VTPM_DEBUG("cannot read the user database: %s", strerror(errno));
    } else {
        out->status = u && g ? VTPM_PROBE_OK : VTPM_PROBE_FAILED;
    }

    out->key_manager_configured = conf->key_manager_backend && *conf->key_manager_backend;
    if (!out->key_manager_configured) {
        out->key_manager_status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "no key manager configured");
    } else if (conf->key_manager_check) {
        vtpm_system_key_manager_check(conf->key_manager_url, conf->key_manager_ca_file,
                                      conf->key_manager_timeout, out);
    } else {
        out->key_manager_status = VTPM_PROBE_OK;
    }
}
