/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_http: libcurl easy handle with keep-alive, TLS and timeouts. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alloc.h"
#include "http.h"
#include "secret_file.h"
#include "util.h"

/* Answers larger than this are refused by default: Placement's are a few KiB. */
#define HTTP_BODY_MAX ((size_t)16 * 1024 * 1024)

/* OpenSSL's PEM passphrase callback takes at most 1024 bytes with the NUL. */
#define HTTP_PASSPHRASE_MAX 1023

struct vtpm_http {
    CURL *curl;
    long connections;
    size_t body_max;
    char *cert_file;        /* for messages: NULL without a client certificate */
    char *key_file;         /* the file the key is read from (maybe cert_file) */
    bool key_password;      /* a passphrase was given */
};

typedef struct {
    vtpm_http_response *resp;
    size_t cap;
    size_t max;
    bool too_big;
} http_sink;

static size_t
http_on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    http_sink *sink = opaque;
    vtpm_http_response *resp = sink->resp;
    size_t n = size * nmemb;

    if (resp->body_len + n > sink->max) {
        sink->too_big = true;
        return 0;
    }
    if (resp->body_len + n + 1 > sink->cap) {
        size_t cap = sink->cap ? sink->cap : 4096;

        while (cap < resp->body_len + n + 1)
            cap *= 2;
        resp->body = vtpm_alloc_realloc(resp->body, cap);
        sink->cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return n;
}

static size_t
http_on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    static const char name[] = "x-subject-token:";
    vtpm_http_response *resp = opaque;
    size_t n = size * nmemb;
    size_t len = sizeof(name) - 1;

    if (n > len && strncasecmp(data, name, len) == 0) {
        const char *v = data + len;
        const char *end = data + n;

        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        vtpm_free_secret(resp->subject_token);
        resp->subject_token = vtpm_alloc_strndup(v, (size_t)(end - v));
    }
    return n;
}

/*
 * libcurl only opens these files when it first connects over TLS, and then
 * reports a missing one as a transport failure, the same as a network fault
 * (retried, exit 5), and not at all while the URL is http://. Opening them
 * here makes a wrong path the configuration error it is.
 */
static int
http_check_file(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        vtpm_strfmt(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vtpm_strfmt(err, errlen, "%s '%s' is not a file", what, path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int
http_set_file(CURL *curl, CURLoption opt, const char *path, const char *what,
              char *err, size_t errlen)
{
    if (!path || !*path)
        return 0;
    if (http_check_file(path, what, err, errlen) < 0)
        return -1;
    if (curl_easy_setopt(curl, opt, path) != CURLE_OK) {
        vtpm_strfmt(err, errlen, "libcurl does not accept the %s '%s'", what, path);
        return -1;
    }
    return 0;
}

/*
 * Gives libcurl the passphrase on the first line of @path. The file must be a
 * regular file that neither group nor others may read or write, whoever owns
 * it (root included: the reporter runs as one user and shares it with no
 * group). The line ending ("\n" or "\r\n") is dropped; the rest of the
 * file is ignored, as with openssl's -passin file:.
 */
static int
http_set_key_password(CURL *curl, const char *path, char *err, size_t errlen)
{
    char buf[HTTP_PASSPHRASE_MAX + 3];     /* the line, "\r\n" and a NUL */
    int ret = -1;

    if (vtpm_secret_file_read_line(path, "passphrase file", buf, sizeof(buf), err, errlen) < 0)
        return -1;
    if (curl_easy_setopt(curl, CURLOPT_KEYPASSWD, buf) != CURLE_OK)
        vtpm_strfmt(err, errlen, "libcurl does not accept the passphrase from '%s'", path);
    else
        ret = 0;
    explicit_bzero(buf, sizeof(buf));
    return ret;
}

/* libcurl ignores a key without a certificate: say so instead. */
static int
http_check_client_files(const vtpm_http_conf *conf, char *err, size_t errlen)
{
    bool has_cert = conf->cert_file && *conf->cert_file;

    if (!has_cert && conf->key_file && *conf->key_file) {
        vtpm_strfmt(err, errlen, "client key '%s' given without a client certificate",
                    conf->key_file);
        return -1;
    }
    if (!has_cert && conf->key_password_file && *conf->key_password_file) {
        vtpm_strfmt(err, errlen, "passphrase file '%s' given without a client certificate",
                    conf->key_password_file);
        return -1;
    }
    return 0;
}

/* The CA bundle, the client certificate, its key and the key's passphrase. */
static int
http_setup_tls(vtpm_http *http, const vtpm_http_conf *conf, char *err, size_t errlen)
{
    CURL *curl = http->curl;

    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, conf->verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, conf->verify ? 2L : 0L);
    if (http_set_file(curl, CURLOPT_CAINFO, conf->ca_file,
                      conf->ca_file_name ? conf->ca_file_name : "CA bundle", err, errlen) < 0 ||
        http_set_file(curl, CURLOPT_SSLCERT, conf->cert_file, "client certificate",
                      err, errlen) < 0 ||
        http_set_file(curl, CURLOPT_SSLKEY, conf->key_file, "client key", err, errlen) < 0)
        return -1;
    /* Without a password, OpenSSL asks for an encrypted key's passphrase on
     * the terminal, which blocks a run started from a shell. An empty one
     * makes such a key fail to load instead. */
    if (http->key_password)
        return http_set_key_password(curl, conf->key_password_file, err, errlen);
    if (http->cert_file)
        curl_easy_setopt(curl, CURLOPT_KEYPASSWD, "");
    return 0;
}

vtpm_http *
vtpm_http_new(const vtpm_http_conf *conf, char *err, size_t errlen)
{
    vtpm_http *http;
    CURL *curl;

    /* Reference-counted inside libcurl; the first call must happen before
     * threads start, which the reporter and the tests guarantee. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        vtpm_strfmt(err, errlen, "cannot initialise libcurl");
        return NULL;
    }
    if (http_check_client_files(conf, err, errlen) < 0) {
        curl_global_cleanup();
        return NULL;
    }
    /* curl_easy_init fails only for want of memory once the global init is done. */
    curl = VTPM_ALLOC_CHECK(curl_easy_init());
    http = vtpm_alloc_calloc(1, sizeof(*http));
    http->curl = curl;
    http->body_max = conf->body_max ? conf->body_max : HTTP_BODY_MAX;
    if (conf->cert_file && *conf->cert_file) {
        http->cert_file = vtpm_alloc_strdup(conf->cert_file);
        http->key_file = vtpm_alloc_strdup(conf->key_file && *conf->key_file
                                           ? conf->key_file : conf->cert_file);
        http->key_password = conf->key_password_file && *conf->key_password_file;
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "vtpm-reporter");
    if (http_setup_tls(http, conf, err, errlen) < 0) {
        vtpm_http_free(http);
        return NULL;
    }
    if (conf->connect_timeout > 0)
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(conf->connect_timeout * 1000.0));
    if (conf->timeout > 0)
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(conf->timeout * 1000.0));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_on_header);
    return http;
}

void
vtpm_http_free(vtpm_http *http)
{
    if (!http)
        return;
    curl_easy_cleanup(http->curl);
    free(http->cert_file);
    free(http->key_file);
    free(http);
    curl_global_cleanup();
}

/*
 * libcurl (OpenSSL) reports a client key that does not decrypt, is not a key
 * or does not match the certificate, and a certificate that does not load,
 * as CURLE_SSL_CERTPROBLEM, at each new connection: name our file and keep
 * libcurl's reason.
 */
static void
http_describe_client_key_error(const vtpm_http *http, const char *reason, char *buf,
                               size_t len)
{
    if (!http->key_file)
        vtpm_strfmt(buf, len, "client certificate problem: %s", reason);
    else if (strstr(reason, "private key"))
        vtpm_strfmt(buf, len, "cannot load client key '%s': %s (%s)", http->key_file,
                    http->key_password ? "wrong passphrase or not the certificate's key"
                                       : "encrypted but no key_password_file, "
                                         "or not the certificate's key",
                    reason);
    else
        vtpm_strfmt(buf, len, "cannot load client certificate '%s': %s", http->cert_file,
                    reason);
}

void
vtpm_http_response_clear(vtpm_http_response *resp)
{
    free(resp->body);
    vtpm_free_secret(resp->subject_token);
    memset(resp, 0, sizeof(*resp));
}

/* @headers as a libcurl list. */
static struct curl_slist *
http_request_headers(const char *const *headers, bool has_body)
{
    struct curl_slist *list = NULL;

    for (size_t i = 0; headers && headers[i]; i++)
        list = VTPM_ALLOC_CHECK(curl_slist_append(list, headers[i]));
    /* Without this, libcurl waits for "100 Continue" on larger bodies. */
    if (has_body)
        list = VTPM_ALLOC_CHECK(curl_slist_append(list, "Expect:"));
    return list;
}

static void
http_request_set_method(CURL *curl, const char *method, const char *body)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
        return;
    }
    /* POSTFIELDS sends a Content-Length: the uwsgi router in front of
     * Placement drops chunked request bodies. */
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
}

/* Why the request failed, into @resp. The URL is ours (no credentials in
 * it); the error buffer names the host and port at most. */
static void
http_request_fail(const vtpm_http *http, CURLcode rc, const char *curl_err,
                  const http_sink *sink, vtpm_http_response *resp)
{
    const char *reason = curl_err[0] ? curl_err : curl_easy_strerror(rc);

    if (sink->too_big)
        vtpm_strfmt(resp->error, sizeof(resp->error), "answer larger than %zu bytes",
                    http->body_max);
    else if (rc == CURLE_SSL_CERTPROBLEM)
        http_describe_client_key_error(http, reason, resp->error, sizeof(resp->error));
    else
        vtpm_strfmt(resp->error, sizeof(resp->error), "%s", reason);
    resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    resp->client_key_error = rc == CURLE_SSL_CERTPROBLEM;
    resp->status = 0;
}

int
vtpm_http_request(vtpm_http *http, const char *method, const char *url,
                  const char *const *headers, const char *body,
                  vtpm_http_response *resp)
{
    CURL *curl = http->curl;
    struct curl_slist *list;
    http_sink sink = { .resp = resp, .max = http->body_max };
    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    long connects = 0;
    int ret = 0;

    vtpm_http_response_clear(resp);
    list = http_request_headers(headers, body != NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);
    http_request_set_method(curl, method, body);

    rc = curl_easy_perform(curl);
    if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
        http->connections += connects;
    if (rc != CURLE_OK) {
        http_request_fail(http, rc, curl_err, &sink, resp);
        ret = -1;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    if (!resp->body)
        resp->body = vtpm_alloc_calloc(1, 1);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(list);
    return ret;
}

char *
vtpm_http_escape(vtpm_http *http, const char *s)
{
    /* curl_easy_escape fails only for want of memory. */
    char *e = VTPM_ALLOC_CHECK(curl_easy_escape(http->curl, s, 0));
    char *copy = vtpm_alloc_strdup(e);

    curl_free(e);
    return copy;
}

long
vtpm_http_connections(const vtpm_http *http)
{
    return http->connections;
}
