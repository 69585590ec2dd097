/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_http: the one place that knows libcurl (one keep-alive handle per object). */
#ifndef VTPM_PLACEMENT_HTTP_H
#define VTPM_PLACEMENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vtpm_http vtpm_http;

/* Transport settings; the strings are borrowed for the call to vtpm_http_new(). */
typedef struct {
    const char *ca_file;      /* CA bundle, NULL: the system's */
    const char *ca_file_name; /* what messages call it, NULL: "CA bundle" */
    const char *cert_file;    /* client certificate (PEM), NULL: none */
    const char *key_file;     /* its private key (PEM), NULL: in cert_file */
    const char *key_password_file; /* first line: the key's passphrase, NULL: none */
    bool verify;              /* verify the server's certificate and name */
    double connect_timeout;   /* seconds, 0: libcurl's default */
    double timeout;           /* seconds for a whole request, 0: none */
    size_t body_max;          /* longest answer in bytes, 0: 16 MiB; a longer
                               * one is a transport failure */
} vtpm_http_conf;

/* One answer. Owned by the caller; release with vtpm_http_response_clear(). */
typedef struct {
    long status;              /* HTTP status, 0 when there was no answer */
    char *body;               /* NUL-terminated, never NULL after a request */
    size_t body_len;
    char *subject_token;      /* X-Subject-Token header (Keystone), or NULL */
    bool timed_out;           /* status 0 because of a timeout */
    bool client_key_error;    /* status 0 because our certificate or key does not
                               * load: a configuration error, a retry cannot help */
    char error[384];          /* why status is 0 */
} vtpm_http_response;

/*
 * Returns a new handle (free with vtpm_http_free()), or NULL with a message
 * in @err. The settings are copied. The TLS files are opened here once, so
 * that a missing or unreadable one (or a key without a certificate) is a
 * failure now rather than at the first https request. The passphrase file is
 * read here too (first line, without its line ending; refused when empty or
 * open to group or others) and its buffer wiped; libcurl keeps its own copy
 * for the handle's life. Without one, an encrypted key fails to load instead
 * of OpenSSL asking on the terminal.
 */
vtpm_http *vtpm_http_new(const vtpm_http_conf *conf, char *err, size_t errlen);

/* Frees @http (NULL is fine) and closes its connection. */
void vtpm_http_free(vtpm_http *http);

/*
 * Sends one request and waits for the answer, reusing the open connection
 * when the server keeps it alive. @headers is a NULL-terminated array of
 * "Name: value" lines (borrowed), @body is sent with a Content-Length when
 * not NULL. Fills @resp (cleared first). Returns 0 when an HTTP answer
 * arrived, whatever its status, and -1 on a transport failure (message in
 * resp->error; it never contains header values, the body or the key's
 * passphrase). A client certificate or key that does not load sets
 * resp->client_key_error and names the file in resp->error.
 */
int vtpm_http_request(vtpm_http *http, const char *method, const char *url,
                      const char *const *headers, const char *body,
                      vtpm_http_response *resp);

/* Releases what @resp holds and zeroes it. */
void vtpm_http_response_clear(vtpm_http_response *resp);

/* Returns @s percent-encoded for a URL query (free with free()), or NULL. */
char *vtpm_http_escape(vtpm_http *http, const char *s);

/* Number of TCP connections opened so far (1 when keep-alive held). */
long vtpm_http_connections(const vtpm_http *http);

#endif /* VTPM_PLACEMENT_HTTP_H */
