/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_pg_publish() and `vtpm-reporter run` over TLS with client certificates, against a live server. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "migrate.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "util.h"

#define DB "vtpm_tls"
#define LOGIN "vtpm-reporter"          /* the CN of the fixture's client certificate */
#define PASSPHRASE "test-passphrase"   /* of the fixture's client-encrypted.key */

static vtpm_test_pg pg;
static char db_dsn[512];               /* superuser, Unix socket */
static PGconn *admin;
static char port[16];
static char pki[300];                  /* what tests/fixtures/pki.sh made */
static char keys[300];                 /* client keys copied with mode 0600 */

static const char *
source_root(void)
{
    const char *root = getenv("VTPM_SOURCE_ROOT");

    return root && *root ? root : ".";
}

/*
 * The reporter's DSN over TCP with sslmode=verify-full, the CA @rootcert,
 * client certificate @cert and key @key (file names: in the PKI folder,
 * unless @key starts with "keys/": in the 0600 copies) and @extra.
 */
static char *
tls_dsn(char *dsn, size_t size, const char *rootcert, const char *cert, const char *key,
        const char *extra)
{
    bool copied = strncmp(key, "keys/", 5) == 0;

    return vtpm_strfmt(dsn, size,
                       "host=127.0.0.1 port=%s dbname=" DB " user=" LOGIN " connect_timeout=5 "
                       "sslmode=verify-full sslrootcert=%s/%s sslcert=%s/%s sslkey=%s/%s%s%s",
                       port, pki, rootcert, pki, cert, copied ? keys : pki,
                       copied ? key + 5 : key, extra[0] ? " " : "", extra);
}

static vtpm_publish_status
publish(const char *dsn, const char *host, vtpm_traitset present, vtpm_publish_result *out)
{
    vtpm_report r;

    vtpm_test_report_init(&r, host, present);
    return vtpm_pg_publish(dsn, &r, out);
}

/* Fails showing the whole of @text when it lacks @needle. */
static void
assert_has(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("'%s' not in: %s", needle, text ? text : "(nothing)");
}

static void
assert_lacks(const char *text, const char *needle)
{
    if (text && strstr(text, needle))
        fail_msg("'%s' shown in: %s", needle, text);
}

static long long
tpm_bits(const char *host)
{
    const char *values[1] = { host };
    PGresult *res = PQexecParams(admin, "SELECT tpm_bits FROM vtpm.resource_providers "
                                 "WHERE name = $1", 1, NULL, values, NULL, NULL, 0);
    long long bits = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        bits = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return bits;
}

/* ---- stderr into a file, for what the logs say ---- */

typedef struct {
    int saved;
    char path[320];
} stderr_capture;

static void
stderr_capture_start(stderr_capture *c)
{
    int fd;

    vtpm_strfmt(c->path, sizeof(c->path), "%s/stderr.txt", pg.dir);
    fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Restores stderr; returns what was written meanwhile (free it). */
static char *
stderr_capture_end(stderr_capture *c)
{
    char *text = calloc(1, 65536);
    FILE *f;
    size_t n;

    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    assert_non_null(text);
    f = fopen(c->path, "r");
    assert_non_null(f);
    n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* ---- publishing through vtpm_pg_publish() ---- */

static void
test_tls_client_certificate_publishes_then_unchanged(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    char dsn[1024];

    (void)state;
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client.key", "");
    assert_int_equal(publish(dsn, "tls-plain", set, &res), VTPM_PUBLISH_CHANGED);
    assert_has(res.message, "host 'tls-plain' published to database '" DB "' on '127.0.0.1:");
    assert_int_equal(tpm_bits("tls-plain"), (long long)set);
    assert_int_equal(publish(dsn, "tls-plain", set, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(res.generation, 1);
}

static void
test_tls_encrypted_key_with_sslpassword_publishes_and_never_shows_it(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    stderr_capture cap;
    vtpm_publish_status st;
    char dsn[1024];
    char *log;

    (void)state;
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client-encrypted.key",
            "sslpassword=" PASSPHRASE);
    vtpm_log_init("test_sql_tls", VTPM_LOG_DEBUG);
    stderr_capture_start(&cap);
    st = publish(dsn, "tls-encrypted", set, &res);
    log = stderr_capture_end(&cap);
    vtpm_log_init("test_sql_tls", VTPM_LOG_ERROR);
    assert_int_equal(st, VTPM_PUBLISH_CHANGED);
    assert_int_equal(tpm_bits("tls-encrypted"), (long long)set);
    /* Debug was on: the attempt is logged, with its DSN masked. */
    assert_has(log, "connecting with DSN '");
    assert_has(log, " sslpassword=*** ");
    assert_has(log, "publishing host 'tls-encrypted'");
    assert_lacks(log, PASSPHRASE);
    assert_lacks(res.message, PASSPHRASE);
    free(log);
}

typedef struct {
    vtpm_publish_status status;
    double seconds;
    char message[512];
    char terminal[1024];   /* what was written on the terminal */
    bool timed_out;
} tty_outcome;

/* The child: a session of its own whose controlling terminal is @slave. */
static void
publish_on_terminal_child(const char *slave, const char *dsn, int result_fd)
{
    vtpm_publish_result res;
    int fd;

    if (setsid() < 0 || (fd = open(slave, O_RDWR)) < 0)
        _exit(120);
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    publish(dsn, "tls-encrypted", 0, &res);
    if (write(result_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(121);
    _exit(0);
}

/*
 * Publishes with @dsn in a child whose controlling terminal (and stdin,
 * stdout, stderr) is a new pseudo-terminal, as in a run started by hand,
 * and watches that terminal: a prompt for the key's passphrase shows on it
 * and blocks the child, which is killed after 20 s.
 */
static void
publish_on_terminal(const char *dsn, tty_outcome *out)
{
    vtpm_publish_result res;
    int master, pipefd[2], status;
    size_t tlen = 0;
    double start = vtpm_clock_now();
    bool have_result = false;
    pid_t pid;

    memset(out, 0, sizeof(*out));
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        publish_on_terminal_child(ptsname(master), dsn, pipefd[1]);
    }
    close(pipefd[1]);
    while (!have_result && vtpm_clock_now() - start < 20) {
        struct pollfd fds[2] = { { .fd = master, .events = POLLIN },
                                 { .fd = pipefd[0], .events = POLLIN } };

        if (poll(fds, 2, 200) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            char buf[256];
            ssize_t n = read(master, buf, sizeof(buf));

            for (ssize_t i = 0; i < n && tlen + 1 < sizeof(out->terminal); i++)
                out->terminal[tlen++] = buf[i];
        }
        if (fds[1].revents & (POLLIN | POLLHUP)) {
            have_result = read(pipefd[0], &res, sizeof(res)) == (ssize_t)sizeof(res);
            break;
        }
    }
    out->seconds = vtpm_clock_now() - start;
    if (!have_result) {
        out->timed_out = true;
        kill(pid, SIGKILL);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    close(master);
    if (have_result) {
        out->status = res.status;
        vtpm_strfmt(out->message, sizeof(out->message), "%s", res.message);
    }
}

static void
test_tls_encrypted_key_without_sslpassword_fails_at_once_without_a_prompt(void **state)
{
    tty_outcome out;
    char dsn[1024];

    (void)state;
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client-encrypted.key", "");
    publish_on_terminal(dsn, &out);
    if (out.timed_out)
        fail_msg("no answer in %.1f s; the terminal shows: %s", out.seconds, out.terminal);
    assert_lacks(out.terminal, "pass phrase");
    /* A configuration error: not retried, unlike an unreachable database. */
    assert_int_equal(out.status, VTPM_PUBLISH_CONFIG);
    assert_has(out.message, "could not load private key file");
    assert_has(out.message, "client-encrypted.key");
    assert_true(out.seconds < 5);
}

/*
 * Publishes to host "tls-plain" with the DSN of tls_dsn(@rootcert, @cert,
 * @key, @extra) and expects @want with @needle in the message, and nothing
 * written: the host keeps what the first case published.
 */
static void
assert_publish_fails(const char *rootcert, const char *cert, const char *key, const char *extra,
                     vtpm_publish_status want, const char *needle)
{
    vtpm_publish_result res;
    char dsn[1024];

    tls_dsn(dsn, sizeof(dsn), rootcert, cert, key, extra);
    if (publish(dsn, "tls-plain", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS), &res) != want)
        fail_msg("status %d, not %d: %s", (int)res.status, (int)want, res.message);
    assert_has(res.message, needle);
    assert_lacks(res.message, PASSPHRASE);
    assert_int_equal(tpm_bits("tls-plain"), (long long)(VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                                                        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB)));
}

static void
test_tls_wrong_sslpassword_is_a_configuration_error(void **state)
{
    (void)state;
    /* libpq: could not load private key file "...": bad decrypt */
    assert_publish_fails("ca.pem", "client.pem", "keys/client-encrypted.key",
                         "sslpassword='not the " PASSPHRASE "'", VTPM_PUBLISH_CONFIG,
                         "/keys/client-encrypted.key\": bad decrypt");
}

static void
test_tls_key_others_may_read_is_a_configuration_error(void **state)
{
    (void)state;
    /* The fixture's own copy is mode 0644: libpq refuses it. */
    assert_publish_fails("ca.pem", "client.pem", "client.key", "", VTPM_PUBLISH_CONFIG,
                         "has group or world access");
}

static void
test_tls_server_signed_by_another_ca_is_refused(void **state)
{
    (void)state;
    assert_publish_fails("other-ca.pem", "client.pem", "keys/client.key", "",
                         VTPM_PUBLISH_REFUSED, "certificate verify failed");
}

static void
test_tls_without_a_trusted_client_certificate_is_refused_by_the_server(void **state)
{
    (void)state;
    /* No certificate at all: the TLS session is made, cert auth refuses. */
    assert_publish_fails("ca.pem", "nonexistent.pem", "nonexistent.key", "",
                         VTPM_PUBLISH_REFUSED, "connection requires a valid client certificate");
    /* A certificate for the same CN from a CA the server does not trust:
     * the server ends the handshake with an alert. */
    assert_publish_fails("ca.pem", "stranger.pem", "keys/stranger.key", "",
                         VTPM_PUBLISH_REFUSED, "alert unknown ca");
}

static void
test_tls_plain_connection_is_rejected_by_pg_hba(void **state)
{
    (void)state;
    assert_publish_fails("ca.pem", "client.pem", "keys/client.key", "sslmode=disable",
                         VTPM_PUBLISH_REFUSED,
                         "pg_hba.conf rejects connection for host \"127.0.0.1\", user \""
                         LOGIN "\", database \"" DB "\", no encryption");
}

/* ---- the real program ---- */

typedef struct {
    const char *config;
    int status;
    double seconds;
    char out[1024];
} reporter_call;

/* Writes @call->config and runs the built `vtpm-reporter run --no-delay` on it. */
static void
reporter_run(reporter_call *call)
{
    char bin[512], cfg[320];
    char *argv[] = { bin, (char *)"run", (char *)"--no-delay", (char *)"--config", cfg, NULL };
    const char *root = getenv("VTPM_BUILD_ROOT");
    double start;
    FILE *f;

    vtpm_strfmt(bin, sizeof(bin), "%s/reporter/cli/vtpm-reporter", root && *root ? root : ".");
    if (access(bin, X_OK) != 0)
        fail_msg("no '%s': build the project first (ninja), then run meson test", bin);
    vtpm_strfmt(cfg, sizeof(cfg), "%s/reporter.yaml", pg.dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(call->config, f);
    fclose(f);
    assert_int_equal(chmod(cfg, 0600), 0);   /* it holds the key's passphrase */
    start = vtpm_clock_now();
    call->status = vtpm_test_spawn(argv, call->out, sizeof(call->out));
    call->seconds = vtpm_clock_now() - start;
}

/* A config with swtpm off (every managed trait absent) and @dsn, retrying thrice. */
static void
reporter_config(char *config, size_t size, const char *dsn)
{
    vtpm_strfmt(config, size,
                "swtpm_enabled: false\n"
                "host: tls-run\n"
                "inventory: postgres\n"
                "cache_dir: %s\n"
                "lock_file: %s/lock/run.lock\n"
                "state_dir: %s/state\n"
                "heartbeat: 0\n"
                "retries: 3\n"
                "postgres:\n"
                "  dsn: \"%s\"\n",
                pg.dir, pg.dir, pg.dir, dsn);
}

static void
test_tls_reporter_run_publishes_and_exits_at_once_on_a_wrong_sslpassword(void **state)
{
    reporter_call call = { 0 };
    stderr_capture cap;
    char config[2048], dsn[1024];
    char *log;

    (void)state;
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client-encrypted.key",
            "sslpassword=" PASSPHRASE);
    reporter_config(config, sizeof(config), dsn);
    call.config = config;
    reporter_run(&call);
    if (call.status != 0)   /* VTPM_EXIT_OK */
        fail_msg("vtpm-reporter run: exit %d: %s", call.status, call.out);
    assert_int_equal(tpm_bits("tls-run"), 0);

    /* Not retried: three retries would back off 1 + 2 + 4 s. */
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client-encrypted.key",
            "sslpassword=wrong-" PASSPHRASE);
    reporter_config(config, sizeof(config), dsn);
    stderr_capture_start(&cap);
    reporter_run(&call);
    log = stderr_capture_end(&cap);
    assert_int_equal(call.status, 2);   /* VTPM_EXIT_USAGE */
    assert_true(call.seconds < 3);
    assert_has(log, "could not load private key file");
    assert_lacks(log, PASSPHRASE);
    assert_lacks(call.out, PASSPHRASE);
    free(log);
}

/*
 * libpq's own parse errors quote pieces of the DSN ("missing "=" after
 * "secret"", "invalid percent-encoded token: "..."); vtpm-inventory shows
 * none of them. Then a TLS DSN with an encrypted key and its sslpassword.
 */
static void
test_tls_inventory_tool_never_shows_a_secret_of_its_dsn(void **state)
{
    static const char *const unparseable[] = {
        "host=127.0.0.1 sslpassword=top secret",
        "postgresql://127.0.0.1/db?sslpassword=top%zzsecret",
        "host=127.0.0.1 password='top secret",
    };
    const char *root = getenv("VTPM_BUILD_ROOT");
    char exe[512], dsn[1024], out[1024];
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"--dir",
                     (char *)vtpm_test_migrations_dir(), (char *)"status", NULL };
    stderr_capture cap;
    char *log;
    int rc;

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", root && *root ? root : ".");
    for (size_t i = 0; i < VTPM_N_ELEMENTS(unparseable); i++) {
        vtpm_strfmt(dsn, sizeof(dsn), "%s", unparseable[i]);
        stderr_capture_start(&cap);
        rc = vtpm_test_spawn(argv, out, sizeof(out));
        log = stderr_capture_end(&cap);
        assert_int_equal(rc, 2);   /* a usage error, not an unreachable database */
        assert_has(log, "cannot parse the DSN");
        assert_lacks(log, "secret");
        free(log);
    }
    tls_dsn(dsn, sizeof(dsn), "ca.pem", "client.pem", "keys/client-encrypted.key",
            "sslpassword=" PASSPHRASE);
    stderr_capture_start(&cap);
    rc = vtpm_test_spawn(argv, out, sizeof(out));
    log = stderr_capture_end(&cap);
    /* Connected (exit 5 would say not): a reporter login may not read the
     * migrations table, and says so. */
    if (rc != 1 || !strstr(log, "permission denied for schema vtpm_meta"))
        fail_msg("vtpm-inventory status: exit %d: %s %s", rc, out, log);
    assert_lacks(log, PASSPHRASE);
    assert_lacks(out, PASSPHRASE);
    free(log);
}

/* ---- the cluster and the PKI, once for the program ---- */

static int
copy_keys(void)
{
    static const char *const names[] = { "client.key", "client-encrypted.key", "stranger.key" };
    char src[400], dst[400];

    vtpm_strfmt(keys, sizeof(keys), "%s/keys", pg.dir);
    if (mkdir(keys, 0700) < 0) {
        fprintf(stderr, "cannot create '%s': %s\n", keys, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < VTPM_N_ELEMENTS(names); i++) {
        vtpm_strfmt(src, sizeof(src), "%s/%s", pki, names[i]);
        vtpm_strfmt(dst, sizeof(dst), "%s/%s", keys, names[i]);
        if (vtpm_test_copy_file(NULL, src, dst, 0600) < 0)
            return -1;
    }
    return 0;
}

/* ssl on with the fixture's server certificate; the reporter only over TLS, by certificate. */
static int
configure_tls(void)
{
    char src[400], key[400], conf[2048];
    const char *hba = "hostssl " DB " " LOGIN " 127.0.0.1/32 cert\n"
                      "hostnossl all " LOGIN " 127.0.0.1/32 reject\n";

    /* The server wants its key private to the cluster's OS user. */
    vtpm_strfmt(src, sizeof(src), "%s/server.key", pki);
    vtpm_strfmt(key, sizeof(key), "%s/server.key", pg.dir);
    if (vtpm_test_copy_file(&pg, src, key, 0600) < 0)
        return -1;
    vtpm_strfmt(conf, sizeof(conf),
                "ssl = on\n"
                "ssl_cert_file = '%s/server.pem'\n"
                "ssl_key_file = '%s'\n"
                "ssl_ca_file = '%s/ca.pem'\n",
                pki, key, pki);
    return vtpm_test_pg_configure(&pg, conf, hba);
}

static int
group_setup(void **state)
{
    char script[512], out[512], err[512];
    const char *p;
    bool created;

    (void)state;
    vtpm_log_init("test_sql_tls", VTPM_LOG_ERROR);
    if (vtpm_test_pg_start_inventory(&pg, DB, db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    /* the cluster's folder belongs to postgres: the lock needs a folder of ours */
    vtpm_strfmt(pki, sizeof(pki), "%s/lock", pg.dir);
    if (mkdir(pki, 0700) < 0)
        return -1;
    p = strstr(pg.dsn, " port=") + 6;
    vtpm_strfmt(port, sizeof(port), "%.*s", (int)strcspn(p, " "), p);
    vtpm_strfmt(pki, sizeof(pki), "%s/pki", pg.dir);
    vtpm_strfmt(script, sizeof(script), "%s/tests/fixtures/pki.sh", source_root());
    {
        char *argv[] = { script, pki, NULL };

        if (vtpm_test_spawn(argv, out, sizeof(out)) != 0) {
            fprintf(stderr, "cannot make the test PKI with '%s' (needs openssl: "
                    "scripts/setup.sh)\n", script);
            return -1;
        }
    }
    if (copy_keys() < 0 || configure_tls() < 0)
        return -1;
    PQfinish(admin);
    admin = vtpm_test_pg_connect(db_dsn);
    for (size_t i = 0; i < 3; i++) {
        static const char *const hosts[] = { "tls-plain", "tls-encrypted", "tls-run" };

        if (vtpm_reporter_bind(admin, LOGIN, hosts[i], NULL, NULL, &created, err, sizeof(err)) < 0) {
            fprintf(stderr, "cannot bind '%s' to '%s': %s\n", LOGIN, hosts[i], err);
            return -1;
        }
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_client_certificate_publishes_then_unchanged),
        cmocka_unit_test(test_tls_encrypted_key_with_sslpassword_publishes_and_never_shows_it),
        cmocka_unit_test(test_tls_encrypted_key_without_sslpassword_fails_at_once_without_a_prompt),
        cmocka_unit_test(test_tls_wrong_sslpassword_is_a_configuration_error),
        cmocka_unit_test(test_tls_key_others_may_read_is_a_configuration_error),
        cmocka_unit_test(test_tls_server_signed_by_another_ca_is_refused),
        cmocka_unit_test(test_tls_without_a_trusted_client_certificate_is_refused_by_the_server),
        cmocka_unit_test(test_tls_plain_connection_is_rejected_by_pg_hba),
        cmocka_unit_test(test_tls_reporter_run_publishes_and_exits_at_once_on_a_wrong_sslpassword),
        cmocka_unit_test(test_tls_inventory_tool_never_shows_a_secret_of_its_dsn),
    };

    return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
