/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: the traits and facts documents of vtpm.publish(), on a private PostgreSQL cluster. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "fuzz.h"
#include "pg_fixture.h"

static PGconn *conn;
static vtpm_test_pg pg;

/*
 * libFuzzer's coverage stops at libpq: the server's branches are out of its
 * sight. Each distinct answer (status and traits changed, or the error's
 * SQLSTATE and fixed wording) sets a counter of this section, which libFuzzer
 * reads as coverage, so inputs that reach a new check in vtpm.publish() are
 * kept. In the replay it is an ordinary array.
 */
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t fuzz_publish_answers[4096];

/* Counts answer @text, up to its first quote or digit (the variable part). */
static void
fuzz_publish_count(const char *text)
{
    uint32_t h = 2166136261u;

    for (; *text && !strchr("'\"0123456789", *text); text++)
        h = (h ^ (uint8_t)*text) * 16777619u;
    fuzz_publish_answers[h % sizeof(fuzz_publish_answers)]++;
}

static void
fuzz_publish_stop(void)
{
    PQfinish(conn);
    vtpm_test_pg_destroy(&pg);
}

/* VTPM_FUZZ_DSN names a database with every migration applied (scripts/fuzz.sh
 * makes one); without it, as in the replay, a private cluster is started.
 * Once, at the first input: the connection serves every input after it. */
static void
fuzz_publish_connect(void)
{
    const char *dsn = getenv("VTPM_FUZZ_DSN");
    char own[512];

    if (conn)
        return;
    atexit(fuzz_publish_stop);
    if (dsn && *dsn) {
        conn = PQconnectdb(dsn);
        if (PQstatus(conn) == CONNECTION_OK)
            return;
        fprintf(stderr, "cannot connect to '%s': %s", dsn, PQerrorMessage(conn));
        exit(1);
    }
    if (vtpm_test_pg_start_inventory(&pg, "fuzz", own, sizeof(own), &conn) != 0)
        exit(1);
}

static bool
fuzz_publish_command(const char *sql, char *out, size_t outlen)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

    PQclear(r);
    return ok ? true : vtpm_fuzz_invalid(out, outlen, PQerrorMessage(conn));
}

/*
 * Judges publish's answer @r: a row, or a refusal whose SQLSTATE says the
 * input is wrong (class 22 data exception, 54 program limit). A lost
 * connection, an internal error or anything else is a finding.
 */
static bool
fuzz_publish_judge(PGresult *r, char *out, size_t outlen)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        vtpm_fuzz_append(out, outlen, "ok %s +%s -%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2),
                         PQgetvalue(r, 0, 3));
        fuzz_publish_count(out);
        return true;
    }
    fuzz_publish_count(PQresultErrorMessage(r));
    if (PQstatus(conn) != CONNECTION_OK)
        return vtpm_fuzz_invalid(out, outlen, "the server closed the connection");
    if (!state || (strncmp(state, "22", 2) != 0 && strncmp(state, "54", 2) != 0))
        return vtpm_fuzz_invalid(out, outlen, PQresultErrorMessage(r));
    vtpm_fuzz_append(out, outlen, "error %s", state);
    return true;
}

/*
 * The input is TRAITS, or TRAITS NUL FACTS (text up to the next NUL): a
 * parameter cannot hold a NUL. Each publish is rolled back, so the answer
 * does not depend on the inputs before it.
 */
bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    char *text = malloc(size + 2);
    const char *params[2];
    PGresult *r;
    bool valid;

    if (!text)
        abort();
    fuzz_publish_connect();
    memcpy(text, data, size);
    text[size] = text[size + 1] = '\0';
    params[0] = text;
    params[1] = strlen(text) < size ? text + strlen(text) + 1 : NULL;
    out[0] = '\0';
    valid = fuzz_publish_command("BEGIN", out, outlen);
    if (valid) {
        r = PQexecParams(conn, "SELECT * FROM vtpm.publish('fuzz-host', NULL, false, NULL, "
                         "$1::jsonb, $2::jsonb)", 2, NULL, params, NULL, NULL, 0);
        valid = fuzz_publish_judge(r, out, outlen);
        PQclear(r);
    }
    if (valid)
        valid = fuzz_publish_command("ROLLBACK", out, outlen);
    free(text);
    return valid;
}

VTPM_FUZZ_ENTRY_POINT
