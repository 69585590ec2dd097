/* SPDX-License-Identifier: Apache-2.0 */
/* decide(): golden cases under tests/data/decide/ (facts + config -> traits, reasons, warnings). */
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf.h"
#include "decide.h"
#include "facts_json.h"
#include "golden.h"

static char area_dir[512];

/*
 * The facts of a case: base-facts.json with the case's facts.json merged
 * over it, so that each case states only what differs from a good host.
 */
static int
decide_load_facts(const char *dir, vtpm_facts *facts)
{
    char path[1200], err[256];
    json_error_t jerr;
    json_t *base, *over;
    int rc;

    snprintf(path, sizeof(path), "%s/base-facts.json", area_dir);
    base = json_load_file(path, 0, &jerr);
    snprintf(path, sizeof(path), "%s/facts.json", dir);
    over = json_load_file(path, 0, &jerr);
    if (!base || !over || json_object_update_recursive(base, over) < 0) {
        print_error("cannot load facts for '%s': %s\n", dir, jerr.text);
        json_decref(base);
        json_decref(over);
        return -1;
    }
    rc = vtpm_facts_from_json(base, facts, err, sizeof(err));
    if (rc < 0)
        print_error("bad facts in '%s': %s\n", dir, err);
    json_decref(base);
    json_decref(over);
    return rc;
}

static int
decide_load_conf(const char *dir, vtpm_conf *conf)
{
    char path[1200], err[512];

    snprintf(path, sizeof(path), "%s/reporter.yaml", dir);
    if (access(path, F_OK) != 0)
        snprintf(path, sizeof(path), "%s/base.yaml", area_dir);
    if (vtpm_conf_load_file(path, conf, err, sizeof(err)) < 0) {
        print_error("%s\n", err);
        vtpm_conf_clear(conf);
        return -1;
    }
    return 0;
}

static void
decide_print(FILE *out, const vtpm_report *report, const vtpm_warnings *warnings)
{
    fprintf(out, "host: %s\n", report->host);
    if (report->provider_uuid[0])
        fprintf(out, "provider_uuid: %s\n", report->provider_uuid);
    if (report->inconclusive)
        fprintf(out, "inconclusive: %s\n", report->inconclusive_reason);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        const vtpm_trait_decision *d = &report->traits[t];

        fprintf(out, "%s: %s [%s] %s\n", vtpm_trait_name((vtpm_trait)t),
                d->state == VTPM_TRAIT_STATE_PRESENT ? "present" : "absent",
                d->reason_code ? d->reason_code : "(null)", d->reason);
    }
    for (size_t i = 0; i < warnings->count; i++)
        fprintf(out, "warning: %s\n", warnings->text[i]);
}

static int
decide_case(const vtpm_golden_case *c, FILE *out)
{
    vtpm_facts facts;
    vtpm_conf conf;
    vtpm_report report, again;
    vtpm_warnings warnings;
    char *before, *after;
    bool same;

    if (decide_load_facts(c->dir, &facts) < 0 || decide_load_conf(c->dir, &conf) < 0)
        return -1;
    before = vtpm_facts_to_string(&facts);
    vtpm_decide(&facts, &conf, &report);
    vtpm_decide_warnings(&facts, &conf, &warnings);
    /* pure: the input is untouched and a second call gives the same answer */
    vtpm_decide(&facts, &conf, &again);
    after = vtpm_facts_to_string(&facts);
    same = before && after && strcmp(before, after) == 0 && report.inconclusive == again.inconclusive;
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        same = same && report.traits[t].state == again.traits[t].state &&
               report.traits[t].reason_code == again.traits[t].reason_code &&
               strcmp(report.traits[t].reason, again.traits[t].reason) == 0;
    free(before);
    free(after);
    if (!same) {
        print_error("decide() is not pure in '%s'\n", c->name);
        vtpm_conf_clear(&conf);
        return -1;
    }
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if (!report.traits[t].reason_code || !report.traits[t].reason[0]) {
            print_error("trait %d has no reason in '%s'\n", t, c->name);
            vtpm_conf_clear(&conf);
            return -1;
        }
    }
    decide_print(out, &report, &warnings);
    vtpm_conf_clear(&conf);
    return 0;
}

/* Inconclusive reports change nothing: every trait absent, facts not attached. */
static void
test_decide_inconclusive_sets_every_trait_absent(void **state)
{
    vtpm_facts facts = { 0 };
    vtpm_conf conf;
    vtpm_report report;

    (void)state;
    vtpm_conf_init_defaults(&conf);
    conf.swtpm_enabled = true;
    conf.key_manager_backend = strdup("barbican");
    facts.libvirt.status = VTPM_PROBE_INCONCLUSIVE;
    vtpm_decide(&facts, &conf, &report);
    assert_true(report.inconclusive);
    assert_null(report.facts_json);
    assert_int_equal(vtpm_report_present(&report), 0);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        assert_string_equal(report.traits[t].reason_code, "inconclusive");
    vtpm_conf_clear(&conf);
}

/*
 * The list of reason codes is complete and true: every code in a golden
 * output is listed, every listed code is produced by some golden case (so
 * every rule is tested), and docs/reporter.md explains each one.
 */
static void
test_decide_reason_codes_are_tested_and_documented(void **state)
{
    char path[1200];
    char *docs, *all = NULL;
    size_t all_len = 0;
    FILE *acc = open_memstream(&all, &all_len);
    DIR *d;
    struct dirent *e;

    (void)state;
    assert_non_null(acc);
    d = opendir(area_dir);
    assert_non_null(d);
    while ((e = readdir(d))) {
        char *text;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/expected.txt", area_dir, e->d_name);
        text = vtpm_golden_read(path, NULL);
        if (text)
            fputs(text, acc);
        free(text);
    }
    closedir(d);
    fclose(acc);
    snprintf(path, sizeof(path), "%s/docs/reporter.md", getenv("VTPM_SOURCE_ROOT"));
    docs = vtpm_golden_read(path, NULL);
    assert_non_null(docs);

    for (const char *const *code = vtpm_decide_reason_codes; *code; code++) {
        char needle[96];

        snprintf(needle, sizeof(needle), "[%s]", *code);
        if (!strstr(all, needle))
            fail_msg("no golden case gives reason code '%s'", *code);
        snprintf(needle, sizeof(needle), "`%s`", *code);
        if (!strstr(docs, needle))
            fail_msg("reason code '%s' is not explained in docs/reporter.md", *code);
    }
    for (const char *p = strstr(all, " ["); p; p = strstr(p + 1, " [")) {
        const char *end = strchr(p, ']');
        bool listed = false;

        assert_non_null(end);
        for (const char *const *code = vtpm_decide_reason_codes; *code; code++)
            if (strlen(*code) == (size_t)(end - p - 2) && strncmp(p + 2, *code, strlen(*code)) == 0)
                listed = true;
        if (!listed)
            fail_msg("reason code '%.*s' is not in vtpm_decide_reason_codes", (int)(end - p - 2),
                     p + 2);
    }
    free(docs);
    free(all);
}

static void
test_decide_version_format(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(vtpm_version_format(9000000, buf, sizeof(buf)), "9.0.0");
    assert_string_equal(vtpm_version_format(8006001, buf, sizeof(buf)), "8.6.1");
    assert_string_equal(vtpm_version_format(0, buf, sizeof(buf)), "unknown");
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_decide_inconclusive_sets_every_trait_absent),
        cmocka_unit_test(test_decide_version_format),
    };
    static const struct CMUnitTest last[] = {
        cmocka_unit_test(test_decide_reason_codes_are_tested_and_documented),
    };
    struct CMUnitTest *tests = NULL;
    size_t n = 0;

    if (!vtpm_golden_area("decide", area_dir, sizeof(area_dir)))
        return 1;
    setenv("PATH", "/usr/bin:/bin", 1);
    vtpm_tests_add(&tests, &n, fixed, sizeof(fixed) / sizeof(fixed[0]));
    if (vtpm_golden_add(&tests, &n, "decide", "expected.txt", decide_case) < 0)
        return 1;
    /* after the golden cases, so that regenerated outputs are checked */
    vtpm_tests_add(&tests, &n, last, 1);
    return vtpm_tests_run("decide", tests, n);
}
