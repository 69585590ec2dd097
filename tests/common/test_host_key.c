/* SPDX-License-Identifier: Apache-2.0 */
/* The host key token and the secret-file line reader: what they accept and everything they refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "host_key.h"
#include "secret_file.h"
#include "util.h"

#define ID "0123456789abcdef"
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[64];

static void
test_host_key_token_round_trips(void **state)
{
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], err[256];
    vtpm_host_key key;

    (void)state;
    assert_int_equal(vtpm_host_key_format(ID, SECRET, token, sizeof(token)), 0);
    assert_string_equal(token, "vtpmhk1." ID "." SECRET);
    assert_int_equal(vtpm_host_key_parse(token, &key, err, sizeof(err)), 0);
    assert_string_equal(key.id, ID);
    assert_int_equal(key.secret[0], 0x00);
    assert_int_equal(key.secret[5], 0x55);
    assert_int_equal(key.secret[31], 0xff);
    vtpm_host_key_clear(&key);
    assert_int_equal(key.secret[31], 0);
}

static void
test_host_key_parse_refuses_anything_else_without_quoting_it(void **state)
{
    static const char *const bad[] = {
        "", "vtpmhk2." ID "." SECRET, "vtpmhk1." ID ":" SECRET, "vtpmhk1." ID "." SECRET "0",
        "vtpmhk1." ID "." "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
        "vtpmhk1.0123456789ABCDEF." SECRET, "vtpmhk1." ID "." SECRET " ", " vtpmhk1." ID "." SECRET,
        "vtpmhk1." ID, "vtpmhk1.0123456789abcde." SECRET "0",
    };
    char err[256];
    vtpm_host_key key;

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad); i++) {
        if (vtpm_host_key_parse(bad[i], &key, err, sizeof(err)) != -1)
            fail_msg("accepted '%s'", bad[i]);
        assert_null(strstr(err, "8899"));
        assert_int_equal(key.id[0], 0);
    }
    assert_int_equal(vtpm_host_key_parse(NULL, &key, err, sizeof(err)), -1);
    assert_int_equal(vtpm_host_key_format("0123", SECRET, err, sizeof(err)), -1);
    assert_int_equal(vtpm_host_key_format(ID, "zz", err, sizeof(err)), -1);
    assert_int_equal(vtpm_host_key_format(ID, SECRET, err, 10), -1);
}

/* Writes @len bytes of @text to @name in the test folder with @mode; returns its path. */
static const char *
file_with(const char *name, const char *text, size_t len, unsigned int mode)
{
    static char path[128];
    FILE *f;

    vtpm_strfmt(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void
test_secret_file_first_line_and_its_refusals(void **state)
{
    char buf[16], err[256];

    (void)state;
    assert_int_equal(vtpm_secret_file_read_line(file_with("a", "secret\r\nrest", 12, 0600), "key file",
                                                buf, sizeof(buf), err, sizeof(err)), 0);
    assert_string_equal(buf, "secret");
    assert_int_equal(vtpm_secret_file_read_line(file_with("b", "0123456789abc", 13, 0600), "key file",
                                                buf, sizeof(buf), err, sizeof(err)), 0);
    assert_string_equal(buf, "0123456789abc");     /* 13 bytes fit, without a newline */
    assert_int_equal(vtpm_secret_file_read_line(file_with("c", "0123456789abcd\n", 15, 0600),
                                                "key file", buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 13 bytes"));
    assert_int_equal(buf[0], 0);
    assert_int_equal(vtpm_secret_file_read_line(file_with("d", "0123456789abcd", 14, 0600),
                                                "key file", buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than"));
    assert_int_equal(vtpm_secret_file_read_line(file_with("e", "\nx", 2, 0600), "key file", buf,
                                                sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty first line"));
    assert_int_equal(vtpm_secret_file_read_line(file_with("f", "a\0b\n", 4, 0600), "key file", buf,
                                                sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL byte"));
    assert_int_equal(vtpm_secret_file_read_line(file_with("g", "secret\n", 7, 0644), "key file", buf,
                                                sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "key file"));
    assert_non_null(strstr(err, "readable by others"));
    assert_int_equal(vtpm_secret_file_read_line(dir, "key file", buf, sizeof(buf), err,
                                                sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a file"));
    assert_int_equal(vtpm_secret_file_read_line("/nonexistent/key", "key file", buf, sizeof(buf),
                                                err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read key file '/nonexistent/key'"));
}

static int
setup(void **state)
{
    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "/tmp/vtpm-test-hostkey-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g" };
    char path[128];

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(names); i++) {
        vtpm_strfmt(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_key_token_round_trips),
        cmocka_unit_test(test_host_key_parse_refuses_anything_else_without_quoting_it),
        cmocka_unit_test(test_secret_file_first_line_and_its_refusals),
    };

    return cmocka_run_group_tests_name("host_key", tests, setup, teardown);
}
