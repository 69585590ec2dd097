/* SPDX-License-Identifier: Apache-2.0 */
/* The swtpm capability cache, exposed for tests. */
#ifndef VTPM_REPORTER_PROBE_SWTPM_PRIV_H
#define VTPM_REPORTER_PROBE_SWTPM_PRIV_H

/* The cache file inside conf->cache_dir. */
#define VTPM_SWTPM_CACHE_FILE "swtpm-capabilities.json"

/* Version of the cache file's layout; other versions are ignored. */
#define VTPM_SWTPM_CACHE_FORMAT 1

/*
 * Seconds after which a cached entry is probed again even though the binary
 * did not change: swtpm's features also depend on libtpms, a library that
 * can be upgraded on its own.
 */
#define VTPM_SWTPM_CACHE_MAX_AGE 3600

/* At most this many entries are kept (one per binary probed); a larger
 * file is refused. */
#define VTPM_SWTPM_CACHE_MAX_ENTRIES 4
#define VTPM_SWTPM_CACHE_SIZE_MAX (256 * 1024)

#endif /* VTPM_REPORTER_PROBE_SWTPM_PRIV_H */
