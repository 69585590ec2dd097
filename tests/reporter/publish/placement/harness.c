/* SPDX-License-Identifier: Apache-2.0 */
/* Checks the Placement tests share: reports, publishes, captured stderr, fixture and reporter runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "service.h"

void
vtpm_test_report_init(vtpm_report *r, const char *host, vtpm_traitset present)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->host, sizeof(r->host), "%s", host);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        r->traits[t].state = (present & VTPM_TRAITSET_BIT(t)) ? VTPM_TRAIT_STATE_PRESENT
                                                              : VTPM_TRAIT_STATE_ABSENT;
        r->traits[t].reason_code = "test";
    }
}

void
vtpm_test_password_conf(vtpm_placement_conf *conf, const char *url, const char *auth_url,
                        const char *password)
{
    vtpm_placement_conf_init(conf);
    conf->url = (char *)url;
    conf->auth = VTPM_PLACEMENT_AUTH_PASSWORD;
    conf->auth_url = (char *)auth_url;
    conf->username = (char *)"admin";
    conf->password = (char *)password;
    conf->project_name = (char *)"admin";
    conf->create_provider = true;
}

vtpm_publish_status
vtpm_test_publish_once(const vtpm_placement_conf *conf, const char *host,
                       vtpm_traitset present, vtpm_publish_result *res)
{
    vtpm_placement_client *client;
    vtpm_report r;
    vtpm_publish_status st;
    char err[256] = "";

    client = vtpm_placement_client_new(conf, err, sizeof(err));
    if (!client)
        fail_msg("client: %s", err);
    vtpm_test_report_init(&r, host, present);
    st = vtpm_placement_publish(client, &r, res);
    vtpm_placement_client_free(client);
    return st;
}

void
vtpm_test_publish_call_run(void *opaque)
{
    vtpm_test_publish_call *c = opaque;

    c->status = vtpm_test_publish_once(c->conf, c->host, c->present, &c->res);
}

void
vtpm_test_assert_has(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("'%s' not in: %s", needle, text ? text : "(nothing)");
}

char *
vtpm_test_capture_stderr(void (*fn)(void *), void *opaque)
{
    char path[] = "/tmp/vtpm-stderr-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    char *text = calloc(1, 65536);
    ssize_t n;

    assert_true(fd >= 0 && saved >= 0 && text);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    fn(opaque);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, text, 65535);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return text;
}

int
vtpm_test_fixture(const char *script, const char *cmd, const char *dir, const char *a,
                  const char *b, char *line, size_t len)
{
    char path[512];
    char *argv[] = {
        (char *)vtpm_test_source_path(path, sizeof(path), script),
        (char *)cmd, (char *)dir, (char *)a, (char *)b, NULL
    };

    return vtpm_test_run(argv, line, len);
}

void
vtpm_test_reporter_call_run(void *opaque)
{
    vtpm_test_reporter_call *c = opaque;
    char bin[512], cfg[512];
    const char *root = getenv("VTPM_BUILD_ROOT");
    char *argv[] = { bin, (char *)"run", (char *)"--no-delay", (char *)"--config", cfg, NULL };
    FILE *f;

    snprintf(bin, sizeof(bin), "%s/reporter/cli/vtpm-reporter", root ? root : ".");
    snprintf(cfg, sizeof(cfg), "%s/reporter.yaml", c->dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(c->config, f);
    fclose(f);
    assert_int_equal(chmod(cfg, 0600), 0);   /* it may hold a token or password */
    c->status = vtpm_test_run(argv, c->line, sizeof(c->line));
}
