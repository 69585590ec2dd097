/* SPDX-License-Identifier: Apache-2.0 */
/* The probes against this machine's real libvirtd and swtpm, checked down to the traits. */
#include <dirent.h>
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
#include <jansson.h>

#include "cli.h"
#include "command.h"
#include "conf.h"
#include "decide.h"
#include "probe.h"
#include "publish.h"
#include "require.h"
#include "swtpm_caps.h"

/* Shared by every case: libvirtd is started once for the whole program. */
static char tmp_root[64];
static char fixture_state[128];
static char fixture_script[512];

static bool
fixture_run(const char *verb)
{
    const char *argv[] = {fixture_script, verb, fixture_state, NULL};
    vtpm_command_opts opts = {.timeout = 120};
    vtpm_command_result res;
    int rc = vtpm_command_run(argv, &opts, &res);

    if (rc != 0)
        fprintf(stderr, "# %s %s failed: %s\n# %s", fixture_script, verb, res.error, res.err);
    vtpm_command_result_clear(&res);
    return rc == 0;
}

static void
remove_tree(const char *path)
{
    const char *argv[] = {"/bin/rm", "-rf", path, NULL};
    vtpm_command_result res;

    vtpm_command_run(argv, NULL, &res);
    vtpm_command_result_clear(&res);
}

static int
group_setup(void **state)
{
    const char *src = getenv("VTPM_SOURCE_ROOT");

    (void)state;
    if (!src) {
        fprintf(stderr, "# VTPM_SOURCE_ROOT is not set: run through `meson test`\n");
        return -1;
    }
    if (access("/usr/bin/swtpm", X_OK) != 0) {
        fprintf(stderr, "# /usr/bin/swtpm is missing: install swtpm and swtpm-tools "
                "with scripts/setup.sh\n");
        return -1;
    }
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/vtpm-test-live-XXXXXX");
    if (!mkdtemp(tmp_root))
        return -1;
    /* swtpm runs as swtpm_user and must reach its folder below this one */
    if (chmod(tmp_root, 0755) < 0)
        return -1;
    snprintf(fixture_script, sizeof(fixture_script), "%s/tests/fixtures/libvirtd.sh", src);
    snprintf(fixture_state, sizeof(fixture_state), "%s/libvirtd.state", tmp_root);
    /* deep-probe folders go here, so that the tests can see them removed */
    setenv("TMPDIR", tmp_root, 1);
    return fixture_run("start") ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (fixture_script[0])
        fixture_run("stop");
    if (tmp_root[0])
        remove_tree(tmp_root);
    return 0;
}

typedef struct {
    vtpm_conf conf;
    vtpm_facts facts;
    vtpm_report report;
    char dir[128];          /* this case's own folder */
} live;

static int
case_setup(void **state)
{
    live *l = calloc(1, sizeof(*l));

    if (!l)
        return -1;
    snprintf(l->dir, sizeof(l->dir), "%s/case-XXXXXX", tmp_root);
    if (!mkdtemp(l->dir))
        return -1;
    *state = l;
    return 0;
}

static int
case_teardown(void **state)
{
    live *l = *state;

    vtpm_conf_clear(&l->conf);
    remove_tree(l->dir);
    free(l);
    return 0;
}

/* Loads the common test config with @uri and @virt_type (NULL: the usual
 * ones) plus @extra (YAML lines). */
static void
load_conf_with(live *l, const char *uri, const char *virt_type, const char *extra)
{
    char text[2048], err[512];

    snprintf(text, sizeof(text),
             "uri: \"%s\"\n"
             "virt_type: %s\n"
             "swtpm_enabled: true\n"
             "swtpm_user: tss\n"
             "swtpm_group: tss\n"
             "swtpm_timeout: 10\n"
             "cache_dir: %s/cache\n"
             "host: compute-test\n"
             "key_manager:\n"
             "  backend: barbican\n"
             "  url: http://127.0.0.1:9311\n"
             "  check: false\n"
             "%s",
             uri ? uri : "qemu:///system", virt_type ? virt_type : "qemu", l->dir,
             extra ? extra : "");
    if (vtpm_conf_load_string("test.yaml", text, strlen(text), &l->conf, err,
                              sizeof(err)) != 0)
        fail_msg("test config refused: %s", err);
}

static void
load_conf(live *l, const char *extra)
{
    load_conf_with(l, NULL, NULL, extra);
}

static void
probe_and_decide(live *l, bool deep)
{
    vtpm_probe_run(&l->conf, deep, &l->facts);
    vtpm_decide(&l->facts, &l->conf, &l->report);
}

static void
assert_trait(const live *l, vtpm_trait t, bool present, const char *code)
{
    const vtpm_trait_decision *d = &l->report.traits[t];

    if ((d->state == VTPM_TRAIT_STATE_PRESENT) != present || strcmp(d->reason_code, code) != 0)
        fail_msg("%s: expected %s [%s], got %s [%s]: %s", vtpm_trait_name(t),
                 present ? "present" : "absent", code,
                 d->state == VTPM_TRAIT_STATE_PRESENT ? "present" : "absent",
                 d->reason_code, d->reason);
}

static void
assert_all_absent(const live *l, const char *code)
{
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        assert_trait(l, (vtpm_trait)t, false, code);
}

static bool
folder_is_empty_of(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;

    assert_non_null(d);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            empty = false;
    }
    closedir(d);
    return empty;
}

/* What the real swtpm says about itself, read without the probe. */
static void
swtpm_own_caps(vtpm_swtpm_facts *caps)
{
    const char *argv[] = {"/usr/bin/swtpm", "socket", "--print-capabilities", NULL};
    vtpm_command_result res;
    char err[200];

    memset(caps, 0, sizeof(*caps));
    if (vtpm_command_run(argv, NULL, &res) != 0)
        fail_msg("/usr/bin/swtpm is missing or broken (%s): install swtpm with "
                 "scripts/setup.sh", res.error);
    assert_int_equal(vtpm_swtpm_caps_parse(res.out, res.out_len, caps, err, sizeof(err)), 0);
    vtpm_command_result_clear(&res);
}

static void
test_probe_finds_tpm_1_2_and_2_0_on_this_host(void **state)
{
    live *l = *state;
    vtpm_swtpm_facts own;

    load_conf(l, NULL);
    probe_and_decide(l, false);

    assert_string_equal(l->facts.host, "compute-test");
    assert_int_equal(l->facts.libvirt.status, VTPM_PROBE_OK);
    assert_string_equal(l->facts.libvirt.hypervisor, "QEMU");
    assert_true(l->facts.libvirt.libvirt_version >= 9000000);
    assert_true(l->facts.libvirt.hypervisor_version > 0);
    assert_string_equal(l->facts.libvirt.virt_type, "qemu");
    assert_true(l->facts.libvirt.tpm_element);
    assert_true(l->facts.libvirt.tpm_supported);
    assert_true(l->facts.libvirt.backend_emulator);
    assert_true(l->facts.libvirt.backend_version_element);
    assert_true(l->facts.libvirt.backend_1_2);
    assert_true(l->facts.libvirt.backend_2_0);
    assert_true(l->facts.libvirt.model_tis);
    assert_true(l->facts.libvirt.model_crb);

    /* the probe agrees with swtpm itself; Debian 12 builds it with both */
    swtpm_own_caps(&own);
    assert_int_equal(l->facts.swtpm.status, VTPM_PROBE_OK);
    assert_string_equal(l->facts.swtpm.version, own.version);
    assert_int_equal(l->facts.swtpm.tpm_1_2, own.tpm_1_2);
    assert_int_equal(l->facts.swtpm.tpm_2_0, own.tpm_2_0);
    assert_true(l->facts.swtpm.tpm_1_2);
    assert_true(l->facts.swtpm.tpm_2_0);
    assert_true(l->facts.swtpm.setup_caps);
    /* the passphrase file descriptors libvirt needs for an encrypted state */
    assert_true(l->facts.swtpm.pwd_fd);
    assert_true(l->facts.swtpm.setup_pwdfile_fd);
    assert_true(l->facts.swtpm.swtpm_setup.found);
    assert_true(l->facts.swtpm.swtpm_ioctl.found);
    assert_false(l->facts.swtpm.from_cache);

    assert_int_equal(l->facts.system.status, VTPM_PROBE_OK);
    assert_true(l->facts.system.user_exists);
    assert_true(l->facts.system.group_exists);
    assert_true(l->facts.system.key_manager_configured);
    assert_false(l->facts.system.key_manager_checked);
    assert_int_equal(l->facts.deep.status, VTPM_PROBE_NOT_RUN);

    assert_false(l->report.inconclusive);
    assert_trait(l, VTPM_TRAIT_TPM_1_2, true, "ok");
    assert_trait(l, VTPM_TRAIT_TPM_2_0, true, "ok");
    assert_trait(l, VTPM_TRAIT_TPM_TIS, true, "ok");
    assert_trait(l, VTPM_TRAIT_TPM_CRB, true, "ok");
    assert_trait(l, VTPM_TRAIT_SECRET_SECURITY_USER, true, "ok");
    assert_trait(l, VTPM_TRAIT_SECRET_SECURITY_HOST, true, "ok");
    assert_trait(l, VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT, false,
                 "secret_security_not_configured");

    /* the second run takes swtpm's answer from the cache, unchanged */
    {
        vtpm_facts first = l->facts;

        probe_and_decide(l, false);
        assert_true(l->facts.swtpm.from_cache);
        assert_int_equal(l->facts.swtpm.tpm_1_2, first.swtpm.tpm_1_2);
        assert_string_equal(l->facts.swtpm.features, first.swtpm.features);
        assert_trait(l, VTPM_TRAIT_TPM_1_2, true, "ok");
    }
}

static void
test_probe_without_swtpm_on_search_path_turns_traits_off(void **state)
{
    live *l = *state;
    char extra[256], empty[200];

    snprintf(empty, sizeof(empty), "%s/empty-bin", l->dir);
    assert_int_equal(mkdir(empty, 0755), 0);
    snprintf(extra, sizeof(extra), "swtpm_search_path: [%s]\n", empty);
    load_conf(l, extra);
    probe_and_decide(l, false);
    assert_int_equal(l->facts.libvirt.status, VTPM_PROBE_OK);
    assert_int_equal(l->facts.swtpm.status, VTPM_PROBE_FAILED);
    assert_false(l->facts.swtpm.swtpm.found);
    assert_non_null(strstr(l->facts.swtpm.error,
                           "swtpm, swtpm_setup, swtpm_ioctl not found on the search path"));
    assert_false(l->report.inconclusive);
    assert_all_absent(l, "swtpm_missing");
    assert_non_null(strstr(l->report.traits[VTPM_TRAIT_TPM_2_0].reason, "swtpm"));
}

static void
test_probe_with_swtpm_disabled_turns_traits_off(void **state)
{
    live *l = *state;

    load_conf(l, NULL);
    l->conf.swtpm_enabled = false;
    probe_and_decide(l, false);
    /* the host could: the facts say so, the configuration says no */
    assert_int_equal(l->facts.swtpm.status, VTPM_PROBE_OK);
    assert_int_equal(l->facts.libvirt.status, VTPM_PROBE_OK);
    assert_false(l->report.inconclusive);
    assert_all_absent(l, "swtpm_disabled");
}

static void
test_probe_with_swtpm_disabled_in_the_file(void **state)
{
    live *l = *state;
    char text[512], err[256];

    snprintf(text, sizeof(text), "swtpm_enabled: false\nvirt_type: qemu\ncache_dir: %s/c\n"
             "key_manager: {backend: barbican}\n", l->dir);
    assert_int_equal(vtpm_conf_load_string("off.yaml", text, strlen(text), &l->conf, err,
                                           sizeof(err)), 0);
    probe_and_decide(l, false);
    assert_all_absent(l, "swtpm_disabled");
}

static void
test_probe_with_virt_type_lxc_turns_traits_off(void **state)
{
    live *l = *state;

    load_conf_with(l, NULL, "lxc", NULL);
    probe_and_decide(l, false);
    /* libvirt itself refuses: the QEMU driver cannot run lxc domains */
    assert_int_equal(l->facts.libvirt.status, VTPM_PROBE_FAILED);
    assert_non_null(strstr(l->facts.libvirt.error, "lxc"));
    assert_false(l->report.inconclusive);
    assert_all_absent(l, "virt_type_unsupported");
}

static void
test_probe_with_libvirtd_not_answering_is_inconclusive(void **state)
{
    live *l = *state;
    char uri[300];

    snprintf(uri, sizeof(uri), "qemu+unix:///system?socket=%s/no-libvirtd.sock", l->dir);
    load_conf_with(l, uri, NULL, NULL);
    probe_and_decide(l, false);
    assert_int_equal(l->facts.libvirt.status, VTPM_PROBE_INCONCLUSIVE);
    assert_non_null(strstr(l->facts.libvirt.error, "cannot connect to libvirt"));
    assert_true(l->report.inconclusive);
    assert_non_null(strstr(l->report.inconclusive_reason, "libvirt did not answer"));
    assert_all_absent(l, "inconclusive");
}

static void
test_probe_deep_with_real_swtpm_succeeds(void **state)
{
    live *l = *state;

    load_conf(l, NULL);
    probe_and_decide(l, true);
    if (l->facts.deep.status != VTPM_PROBE_OK)
        fail_msg("deep probe: 2.0: %s; 1.2: %s", l->facts.deep.error_2_0,
                 l->facts.deep.error_1_2);
    assert_int_equal(l->facts.deep.tpm_2_0, VTPM_PROBE_OK);
    assert_int_equal(l->facts.deep.tpm_1_2, VTPM_PROBE_OK);
    assert_trait(l, VTPM_TRAIT_TPM_1_2, true, "ok");
    assert_trait(l, VTPM_TRAIT_TPM_2_0, true, "ok");
    /* the private folders are gone, and no swtpm is left behind */
    assert_true(folder_is_empty_of(tmp_root, "vtpm-deep-"));
}

/* A folder with a fake swtpm (@script) beside the real swtpm_setup and swtpm_ioctl. */
static void
fake_swtpm_dir(live *l, char *bin, size_t size, const char *script)
{
    char path[300];
    FILE *f;

    snprintf(bin, size, "%s/fake-bin", l->dir);
    assert_int_equal(mkdir(bin, 0755), 0);
    snprintf(path, sizeof(path), "%s/swtpm", bin);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(script, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/swtpm_setup", bin);
    assert_int_equal(symlink("/usr/bin/swtpm_setup", path), 0);
    snprintf(path, sizeof(path), "%s/swtpm_ioctl", bin);
    assert_int_equal(symlink("/usr/bin/swtpm_ioctl", path), 0);
}

static void
test_probe_deep_with_swtpm_that_exits_at_once_fails_clearly(void **state)
{
    live *l = *state;
    char bin[200], extra[300];

    fake_swtpm_dir(l, bin, sizeof(bin),
                   "#!/bin/sh\n"
                   "case \"$*\" in\n"
                   "*--print-capabilities*)\n"
                   "  echo '{\"type\":\"swtpm\",\"features\":[\"tpm-1.2\",\"tpm-2.0\","
                   "\"cmdarg-pwd-fd\"],\"version\":\"0.7.1\"}';;\n"
                   "esac\n"
                   "exit 0\n");
    snprintf(extra, sizeof(extra), "swtpm_search_path: [%s]\n", bin);
    load_conf(l, extra);
    probe_and_decide(l, true);
    /* the capability list looks fine: only the deep probe can tell */
    assert_int_equal(l->facts.swtpm.status, VTPM_PROBE_OK);
    assert_true(l->facts.swtpm.tpm_2_0);
    assert_int_equal(l->facts.deep.status, VTPM_PROBE_FAILED);
    assert_int_equal(l->facts.deep.tpm_2_0, VTPM_PROBE_FAILED);
    assert_int_equal(l->facts.deep.tpm_1_2, VTPM_PROBE_FAILED);
    assert_string_equal(l->facts.deep.error_2_0,
                        "start: swtpm exited with status 0 before opening its server");
    assert_string_equal(l->facts.deep.error_1_2,
                        "start: swtpm exited with status 0 before opening its server");
    assert_false(l->report.inconclusive);
    assert_trait(l, VTPM_TRAIT_TPM_2_0, false, "deep_probe_failed");
    assert_trait(l, VTPM_TRAIT_TPM_1_2, false, "deep_probe_failed");
    assert_non_null(strstr(l->report.traits[VTPM_TRAIT_TPM_2_0].reason,
                           "exited with status 0 before opening its server"));
    assert_true(folder_is_empty_of(tmp_root, "vtpm-deep-"));
}

static void
test_probe_deep_with_swtpm_that_fails_shows_its_message(void **state)
{
    live *l = *state;
    char bin[200], extra[300];

    fake_swtpm_dir(l, bin, sizeof(bin),
                   "#!/bin/sh\n"
                   "case \"$*\" in\n"
                   "*--print-capabilities*)\n"
                   "  echo '{\"type\":\"swtpm\",\"features\":[\"tpm-2.0\",\"cmdarg-pwd-fd\"],"
                   "\"version\":\"0.7.1\"}'; exit 0;;\n"
                   "esac\n"
                   "echo 'swtpm: Could not initialize libtpms.' >&2\n"
                   "exit 1\n");
    snprintf(extra, sizeof(extra), "swtpm_search_path: [%s]\n", bin);
    load_conf(l, extra);
    probe_and_decide(l, true);
    assert_int_equal(l->facts.deep.tpm_2_0, VTPM_PROBE_FAILED);
    assert_int_equal(l->facts.deep.tpm_1_2, VTPM_PROBE_NOT_RUN);
    assert_string_equal(l->facts.deep.error_2_0,
                        "start: swtpm exited with status 1 before opening its server "
                        "(swtpm said 'swtpm: Could not initialize libtpms.')");
    assert_trait(l, VTPM_TRAIT_TPM_2_0, false, "deep_probe_failed");
    assert_trait(l, VTPM_TRAIT_TPM_1_2, false, "swtpm_no_tpm_1_2");
}

static void
test_probe_json_of_the_cli_lists_every_trait(void **state)
{
    live *l = *state;
    char conf_path[256], *text = NULL;
    size_t len = 0;
    FILE *conf, *out, *err;
    json_t *doc, *traits;
    json_error_t jerr;
    char a0[] = "vtpm-reporter", a1[] = "probe", a2[] = "--json", a3[] = "--config";
    char *argv[] = {a0, a1, a2, a3, conf_path, NULL};
    int rc;

    snprintf(conf_path, sizeof(conf_path), "%s/reporter.yaml", l->dir);
    conf = fopen(conf_path, "w");
    assert_non_null(conf);
    fprintf(conf, "virt_type: qemu\nswtpm_enabled: true\ncache_dir: %s/cache\n"
            "key_manager: {backend: barbican}\n", l->dir);
    assert_int_equal(fclose(conf), 0);

    out = open_memstream(&text, &len);
    err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    rc = vtpm_cli_main(5, argv, out, err);
    fclose(out);
    fclose(err);
    assert_int_equal(rc, VTPM_EXIT_OK);
    doc = json_loads(text, 0, &jerr);
    if (!doc)
        fail_msg("probe --json printed no JSON: %s", jerr.text);
    free(text);
    traits = json_object_get(doc, "traits");
    assert_int_equal(json_object_size(traits), VTPM_TRAIT_COUNT);
    assert_true(json_is_true(json_object_get(json_object_get(traits,
                                             "COMPUTE_SECURITY_TPM_2_0"), "present")));
    assert_true(json_is_true(json_object_get(json_object_get(traits,
                                             "COMPUTE_SECURITY_TPM_1_2"), "present")));
    assert_true(json_is_false(json_object_get(doc, "inconclusive")));
    assert_non_null(json_object_get(doc, "facts"));
    json_decref(doc);
}

static void
test_probe_cli_exit_code_when_libvirtd_does_not_answer(void **state)
{
    live *l = *state;
    char conf_path[256];
    FILE *conf, *out, *err;
    char a0[] = "vtpm-reporter", a1[] = "probe", a2[] = "--config";
    char *argv[] = {a0, a1, a2, conf_path, NULL};

    snprintf(conf_path, sizeof(conf_path), "%s/reporter.yaml", l->dir);
    conf = fopen(conf_path, "w");
    assert_non_null(conf);
    fprintf(conf, "uri: \"qemu+unix:///system?socket=%s/none.sock\"\nvirt_type: qemu\n"
            "swtpm_enabled: true\ncache_dir: %s/cache\nkey_manager: {backend: barbican}\n",
            l->dir, l->dir);
    assert_int_equal(fclose(conf), 0);
    out = tmpfile();
    err = tmpfile();
    assert_int_equal(vtpm_cli_main(4, argv, out, err), VTPM_EXIT_INCONCLUSIVE);
    fclose(out);
    fclose(err);
}

int
main(void)
{
#define CASE(f) cmocka_unit_test_setup_teardown(f, case_setup, case_teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_probe_finds_tpm_1_2_and_2_0_on_this_host),
        CASE(test_probe_without_swtpm_on_search_path_turns_traits_off),
        CASE(test_probe_with_swtpm_disabled_turns_traits_off),
        CASE(test_probe_with_swtpm_disabled_in_the_file),
        CASE(test_probe_with_virt_type_lxc_turns_traits_off),
        CASE(test_probe_with_libvirtd_not_answering_is_inconclusive),
        CASE(test_probe_deep_with_real_swtpm_succeeds),
        CASE(test_probe_deep_with_swtpm_that_exits_at_once_fails_clearly),
        CASE(test_probe_deep_with_swtpm_that_fails_shows_its_message),
        CASE(test_probe_json_of_the_cli_lists_every_trait),
        CASE(test_probe_cli_exit_code_when_libvirtd_does_not_answer),
    };

    vtpm_test_require_program("/usr/bin/swtpm", "swtpm");
    vtpm_test_require_program("libvirtd", "libvirt-daemon");
    vtpm_test_require_root("start libvirtd and hand folders to the swtpm user");
#undef CASE

    return cmocka_run_group_tests_name("probe_live", tests, group_setup, group_teardown);
}
