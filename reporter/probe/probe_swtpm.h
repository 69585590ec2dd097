/* SPDX-License-Identifier: Apache-2.0 */
/* The swtpm probe: binaries on the search path and their capabilities. */
#ifndef VTPM_REPORTER_PROBE_SWTPM_H
#define VTPM_REPORTER_PROBE_SWTPM_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "facts.h"

/*
 * Finds the executable @name in the directories of @search_path (a
 * NULL-terminated list; NULL means $PATH). Writes its path into @path
 * (@size bytes) and returns true when found.
 */
bool vtpm_swtpm_find_binary(const char *const *search_path, const char *name,
                            char *path, size_t size);

/*
 * Fills @out: swtpm, swtpm_setup and swtpm_ioctl on conf->swtpm_search_path,
 * and what `swtpm socket --print-capabilities` and `swtpm_setup
 * --print-capabilities` report, each bounded by conf->swtpm_timeout.
 * Capabilities are cached in conf->cache_dir, keyed by each binary's path,
 * device, inode, size, mtime and ctime; a cache that cannot be read or
 * written is ignored.
 *
 * @out->status: OK when all three binaries exist and swtpm printed
 * capabilities; INCONCLUSIVE when swtpm or swtpm_setup did not answer within
 * the timeout (a slow host says nothing about what the binary can do);
 * FAILED otherwise, with the reason in @out->error (a binary that exits
 * non-zero, crashes or prints garbage has no capabilities, as for libvirt).
 * Aborts on out of memory.
 */
void vtpm_swtpm_probe(const vtpm_conf *conf, vtpm_swtpm_facts *out);

#endif /* VTPM_REPORTER_PROBE_SWTPM_H */
