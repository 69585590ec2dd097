/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter's answer writer prints strings, values and trait lists exactly as jansson's json_dumps does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "testutil.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)

/* Asserts that the writer prints @value as jansson does. */
static void
assert_same_as_jansson(vtpm_answer *a, json_t *value)
{
    char *expected = json_dumps(value, DUMP_FLAGS);

    assert_non_null(expected);
    vtpm_answer_reset(a);
    if (json_is_string(value))
        vtpm_answer_string(a, json_string_value(value));
    else
        vtpm_answer_json(a, value);
    assert_false(a->bad);
    assert_int_equal(a->len, strlen(expected));
    assert_memory_equal(a->text, expected, a->len);
    free(expected);
}

static void
test_strings_are_escaped_as_jansson_does(void **state)
{
    static const char *const samples[] = {
        "", "plain", "quote \" backslash \\ slash /", "\b\f\n\r\t\x01\x1f\x7f",
        "caf\xc3\xa9", "\xe2\x82\xac \xe2\x80\xa8", "\xf0\x9f\x98\x80 astral",
        "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
    };
    vtpm_answer a = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        json_t *s = json_string(samples[i]);

        assert_non_null(s);
        assert_same_as_jansson(&a, s);
        json_decref(s);
    }
    vtpm_answer_clear(&a);
}

/* Random valid UTF-8 strings, every code point class, through both. */
static void
test_random_strings_match_jansson(void **state)
{
    vtpm_answer a = { 0 };
    unsigned int seed = 12345;
    int round;

    (void)state;
    for (round = 0; round < 20000; round++) {
        char buf[256];
        size_t len = 0;
        json_t *s;

        while (len < sizeof(buf) - 5) {
            uint32_t cp, r = (uint32_t)rand_r(&seed);

            switch (r % 4) {
            case 0: cp = r % 0x80; break;
            case 1: cp = 0x80 + r % 0x780; break;
            case 2: cp = 0x800 + r % 0xF800; break;
            default: cp = 0x10000 + r % 0x100000; break;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                continue;
            if (cp < 0x80) {
                buf[len++] = (char)cp;
            } else if (cp < 0x800) {
                buf[len++] = (char)(0xC0 | (cp >> 6));
                buf[len++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                buf[len++] = (char)(0xE0 | (cp >> 12));
                buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[len++] = (char)(0x80 | (cp & 0x3F));
            } else {
                buf[len++] = (char)(0xF0 | (cp >> 18));
                buf[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[len++] = (char)(0x80 | (cp & 0x3F));
            }
            if ((r >> 8) % 16 == 0)
                break;
        }
        buf[len] = '\0';
        s = json_string(buf);
        assert_non_null(s);
        assert_same_as_jansson(&a, s);
        json_decref(s);
    }
    vtpm_answer_clear(&a);
}

/* What jansson refuses as a string, the writer says it cannot write. */
static void
test_invalid_utf8_is_reported(void **state)
{
    static const char *const samples[] = {
        "\x80", "a\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80", "ok\xff",
    };
    vtpm_answer a = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        assert_null(json_string(samples[i]));
        vtpm_answer_reset(&a);
        vtpm_answer_string(&a, samples[i]);
        assert_true(a.bad);
    }
    vtpm_answer_clear(&a);
}

static void
test_values_and_traits_match_jansson(void **state)
{
    static const char *const docs[] = {
        "1", "-0.0", "2.5e300", "null", "true", "[1,{\"a\":null,\"b\":[]}]",
        "{\"x\":\"caf\\u00e9\",\"y\":{\"z\":[true,false,1.5]}}", "\"\\ud83d\\ude00\"",
    };
    vtpm_answer a = { 0 };
    json_t *arr;
    char *expected;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);

        assert_non_null(v);
        vtpm_answer_reset(&a);
        vtpm_answer_json(&a, v);
        expected = json_dumps(v, DUMP_FLAGS);
        assert_int_equal(a.len, strlen(expected));
        assert_memory_equal(a.text, expected, a.len);
        free(expected);
        json_decref(v);
    }
    arr = json_array();
    for (i = 0; i < VTPM_TRAIT_COUNT; i += 2)
        json_array_append_new(arr, json_string(vtpm_trait_name((vtpm_trait)i)));
    expected = json_dumps(arr, DUMP_FLAGS);
    vtpm_answer_reset(&a);
    vtpm_answer_traits(&a, 0x5555555555555555ULL & ((1ULL << VTPM_TRAIT_COUNT) - 1));
    assert_int_equal(a.len, strlen(expected));
    assert_memory_equal(a.text, expected, a.len);
    free(expected);
    json_decref(arr);
    vtpm_answer_clear(&a);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_are_escaped_as_jansson_does),
        cmocka_unit_test(test_random_strings_match_jansson),
        cmocka_unit_test(test_invalid_utf8_is_reported),
        cmocka_unit_test(test_values_and_traits_match_jansson),
    };

    return cmocka_run_group_tests_name("cli-answer", tests, NULL, NULL);
}
