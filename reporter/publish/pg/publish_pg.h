/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL publisher: one call of vtpm.publish() over libpq. */
#ifndef VTPM_REPORTER_PUBLISH_PG_H
#define VTPM_REPORTER_PUBLISH_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "publish.h"
#include "report.h"

/*
 * Publishes @report with one `SELECT ... FROM vtpm.publish(...)` on a new
 * connection to @dsn (NULL or "" = libpq's environment: PGHOST, PGSSLMODE,
 * PGPASSFILE, ...; TLS options such as sslmode and sslrootcert pass through
 * the DSN unchanged). Fills @out (never NULL) and returns out->status:
 *   VTPM_PUBLISH_CHANGED / _UNCHANGED / _INCONCLUSIVE: stored;
 *   VTPM_PUBLISH_UNREACHABLE: no connection, or it broke before the answer
 *     (the transaction is then rolled back by the server: nothing is half
 *     written);
 *   VTPM_PUBLISH_REFUSED: the database refused (pg_hba.conf, authentication,
 *     a server or client certificate that does not verify, not bound to the
 *     host, permission denied, invalid data);
 *   VTPM_PUBLISH_CONFIG: the DSN cannot be parsed, a TLS file of ours cannot
 *     be used (missing, readable by others, an encrypted key without the
 *     right sslpassword), or the schema is missing.
 * An encrypted client key is decrypted with the DSN's sslpassword only: the
 * first call installs libpq's own key-passphrase hook (process-wide, unless
 * the application installed one), so that OpenSSL never prompts on the
 * terminal or reads stdin. out->message never contains a password or
 * sslpassword: DSNs are shown masked. With DEBUG logging, the masked DSN of
 * each attempt is logged.
 */
vtpm_publish_status vtpm_pg_publish(const char *dsn, const vtpm_report *report,
                                    vtpm_publish_result *out);

/*
 * The same on an open connection @conn (kept open: a scheduler-side tool or a
 * benchmark may publish many hosts over one connection). Returns out->status.
 */
vtpm_publish_status vtpm_pg_publish_conn(PGconn *conn, const vtpm_report *report,
                                         vtpm_publish_result *out);

#endif /* VTPM_REPORTER_PUBLISH_PG_H */
