/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL publisher: one call of vtpm.publish() over libpq (and vtpm.flush() after a change). */
#ifndef VTPM_REPORTER_PUBLISH_PG_H
#define VTPM_REPORTER_PUBLISH_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "host_key.h"
#include "publish.h"
#include "report.h"

/*
 * Publishes @report with one `SELECT ... FROM vtpm.publish(...)` on a new
 * connection to @dsn (NULL or "" = libpq's environment: PGHOST, PGSSLMODE,
 * PGPASSFILE, ...; TLS options such as sslmode and sslrootcert pass through
 * the DSN unchanged). A report that changes a trait commits without waiting
 * for its WAL and is then waited for with `SELECT vtpm.flush()` (migration
 * 0013: outside the lock that orders notifying commits). Fills @out (never
 * NULL) and returns out->status:
 *   VTPM_PUBLISH_CHANGED / _UNCHANGED / _INCONCLUSIVE: stored (as durable as
 *     the session's synchronous_commit makes a commit);
 *   VTPM_PUBLISH_UNREACHABLE: no connection, or it broke before the answer
 *     (the transaction is then rolled back by the server: nothing is half
 *     written), or before the flush of a change returned (the change may
 *     then be stored or lost: the next attempt publishes it again);
 *   VTPM_PUBLISH_REFUSED: the database refused (pg_hba.conf, authentication,
 *     a server or client certificate that does not verify, not bound to the
 *     host, permission denied, invalid data, a schema missing or older than
 *     this publisher needs: "run vtpm-inventory migrate");
 *   VTPM_PUBLISH_CONFIG: the DSN cannot be parsed, or a TLS file of ours
 *     cannot be used (missing, readable by others, an encrypted key without
 *     the right sslpassword).
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

/*
 * As vtpm_pg_publish(), in the signed (pooled) mode when @key is not NULL:
 * vtpm.publish_signed() with HMAC-SHA256 of the report under @key and the
 * time in microseconds as its sequence (docs/inventory.md, "Pooled
 * publishing"). The database's refusals (unknown or revoked key, a
 * signature that does not verify, another host, a replay, a clock too far
 * off) are VTPM_PUBLISH_REFUSED; a connection whose client_encoding is not
 * UTF8 is VTPM_PUBLISH_CONFIG. @key NULL: vtpm_pg_publish().
 */
vtpm_publish_status vtpm_pg_publish_signed(const char *dsn, const vtpm_host_key *key,
                                           const vtpm_report *report, vtpm_publish_result *out);

/* The same on an open connection @conn, as vtpm_pg_publish_conn(). */
vtpm_publish_status vtpm_pg_publish_signed_conn(PGconn *conn, const vtpm_host_key *key,
                                                const vtpm_report *report,
                                                vtpm_publish_result *out);

/*
 * Reads the host key file @path (one line, the token vtpm-inventory wrote;
 * a file group or others may read or write is refused) into @key. Returns
 * 0, or -1 with one line in @err, which never holds the key.
 */
int vtpm_host_key_load(const char *path, vtpm_host_key *key, char *err, size_t errlen);

#endif /* VTPM_REPORTER_PUBLISH_PG_H */
