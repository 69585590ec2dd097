/* SPDX-License-Identifier: Apache-2.0 */
/* What an integration test needs (root, installed daemons): skip by hand, fail in CI. */
#ifndef VTPM_TESTS_REQUIRE_H
#define VTPM_TESTS_REQUIRE_H

#include <stdbool.h>

/*
 * Whether every test must run: CI=true, or VTPM_TEST_REQUIRE_ALL=1 (which
 * scripts/test.sh exports). There a missing requirement fails the test.
 */
bool vtpm_test_require_all(void);

/*
 * Ends the test program because something it needs is missing. By hand it
 * is skipped: "# skip: WHY" on stderr and exit 77 (the skip status of
 * meson's exitcode protocol and automake); under meson's TAP protocol
 * (CMOCKA_MESSAGE_OUTPUT=TAP, which tests/meson.build sets), where 77 would
 * count as an error, the skip is the TAP plan "1..0 # SKIP WHY" and exit 0.
 * Where every test must run it fails: "Bail out!" and exit 1.
 */
_Noreturn void vtpm_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Unless running as root: vtpm_test_skip("needs root to WHY"). */
void vtpm_test_require_root(const char *why);

/* Unless @program is found (a path, or a name on $PATH): vtpm_test_skip("needs
 * PROGRAM (Debian package PACKAGE)"). */
void vtpm_test_require_program(const char *program, const char *package);

#endif /* VTPM_TESTS_REQUIRE_H */
