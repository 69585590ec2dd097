/* SPDX-License-Identifier: Apache-2.0 */
/* The vtpm-reporter command line: option parsing, probe output, and run. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "cli.h"
#include "facts_json.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "publish.h"
#include "run.h"
#include "util.h"
#include "vtpm-config.h"

#define PROGNAME "vtpm-reporter"

const char *
vtpm_cli_default_config(void)
{
    return VTPM_SYSCONFDIR "/vtpm-placement/reporter.yaml";
}

static void
cli_usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROGNAME " COMMAND [OPTIONS]\n"
            "Find out which vTPM traits this compute host has, and publish them.\n"
            "\n"
            "Commands:\n"
            "  probe    probe the host and print every fact and trait with its reason\n"
            "  run      probe, then publish the traits to the configured inventory\n"
            "  help     print this help\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE  configuration file (default %s;\n"
            "                     probe uses the defaults when the default file is missing)\n"
            "  -j, --json         probe: print one JSON document instead of text\n"
            "  -d, --deep         also start a real swtpm and talk to it\n"
            "  -n, --no-delay     run: skip the random start delay (start_delay_max)\n"
            "  -f, --force        run: publish even an unchanged report (ignore heartbeat)\n"
            "  -m, --metrics-file FILE\n"
            "                     run: write the outcome for node_exporter's textfile\n"
            "                     collector to FILE (replaced atomically)\n"
            "  -v, --verbose      log debug messages on stderr\n"
            "  -h, --help         print this help\n"
            "  -V, --version      print the version\n"
            "\n",
            vtpm_cli_default_config());
    vtpm_exit_print_help(out, VTPM_EXIT_FOR_REPORTER);
}

/* ------------------------------------------------------------------------ */
/* Text output                                                              */

/* The report's name, but for two words where the JSON has one. */
static const char *
cli_status(vtpm_probe_status status)
{
    return status == VTPM_PROBE_NOT_RUN ? "not run" : vtpm_probe_status_name(status);
}

static const char *
cli_yes(bool b)
{
    return b ? "yes" : "no";
}

static void
cli_print_libvirt(FILE *out, const vtpm_conf *conf, const vtpm_libvirt_facts *lv)
{
    char lver[32], hver[32];

    fprintf(out, "libvirt: %s", cli_status(lv->status));
    if (lv->status != VTPM_PROBE_OK) {
        fprintf(out, "%s%s\n", lv->error[0] ? ": " : "", lv->error);
        return;
    }
    fprintf(out, ": libvirt %s, %s %s, %s on %s (%s)\n",
            vtpm_version_format(lv->libvirt_version, lver, sizeof(lver)),
            lv->hypervisor[0] ? lv->hypervisor : "hypervisor",
            vtpm_version_format(lv->hypervisor_version, hver, sizeof(hver)),
            lv->virt_type[0] ? lv->virt_type : conf->virt_type,
            lv->arch[0] ? lv->arch : "unknown arch", conf->uri);
    if (!lv->tpm_element) {
        fprintf(out, "  tpm: not reported (libvirt older than 8.0)\n");
        return;
    }
    fprintf(out, "  tpm: supported %s; models:%s%s; emulator backend %s; versions:",
            cli_yes(lv->tpm_supported), lv->model_tis ? " tpm-tis" : "",
            lv->model_crb ? " tpm-crb" : (lv->model_tis ? "" : " none"),
            cli_yes(lv->backend_emulator));
    if (!lv->backend_version_element)
        fprintf(out, " not reported (libvirt older than 8.6)\n");
    else
        fprintf(out, "%s%s%s\n", lv->backend_1_2 ? " 1.2" : "", lv->backend_2_0 ? " 2.0" : "",
                lv->backend_1_2 || lv->backend_2_0 ? "" : " none");
}

static void
cli_print_swtpm(FILE *out, const vtpm_swtpm_facts *sw)
{
    const vtpm_binary_facts *bins[] = { &sw->swtpm, &sw->swtpm_setup, &sw->swtpm_ioctl };
    static const char *const names[] = { "swtpm", "swtpm_setup", "swtpm_ioctl" };

    fprintf(out, "swtpm: %s", cli_status(sw->status));
    if (sw->status == VTPM_PROBE_OK)
        fprintf(out, ": version %s; features: %s%s\n", sw->version[0] ? sw->version : "unknown",
                sw->features[0] ? sw->features : "none", sw->from_cache ? " (cached)" : "");
    else
        fprintf(out, "%s%s\n", sw->error[0] ? ": " : "", sw->error);
    fprintf(out, "  binaries:");
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bins); i++)
        fprintf(out, " %s=%s", names[i], bins[i]->found ? bins[i]->path : "(not found)");
    fprintf(out, "\n");
}

static void
cli_print_system(FILE *out, const vtpm_conf *conf, const vtpm_system_facts *sys)
{
    fprintf(out, "system: %s", cli_status(sys->status));
    if (sys->status == VTPM_PROBE_OK || sys->status == VTPM_PROBE_FAILED)
        fprintf(out, ": user '%s' %s, group '%s' %s\n", sys->user[0] ? sys->user : conf->swtpm_user,
                sys->user_exists ? "exists" : "missing",
                sys->group[0] ? sys->group : conf->swtpm_group,
                sys->group_exists ? "exists" : "missing");
    else
        fprintf(out, "\n");

    fprintf(out, "key manager: ");
    if (!conf->key_manager_backend) {
        fprintf(out, "not configured\n");
        return;
    }
    fprintf(out, "%s%s%s", conf->key_manager_backend, conf->key_manager_url ? " at " : "",
            conf->key_manager_url ? conf->key_manager_url : "");
    if (!conf->key_manager_check || sys->key_manager_status == VTPM_PROBE_NOT_RUN) {
        fprintf(out, "; reachability not checked\n");
        return;
    }
    if (sys->key_manager_reachable)
        fprintf(out, "; reachable (HTTP %ld)\n", sys->key_manager_http_status);
    else
        fprintf(out, "; %s%s%s\n",
                sys->key_manager_status == VTPM_PROBE_INCONCLUSIVE ? "unreachable" : "not usable",
                sys->key_manager_error[0] ? ": " : "", sys->key_manager_error);
}

static void
cli_print_deep(FILE *out, const vtpm_deep_facts *deep)
{
    fprintf(out, "deep: %s", cli_status(deep->status));
    if (deep->status == VTPM_PROBE_NOT_RUN) {
        fprintf(out, " (use --deep)\n");
        return;
    }
    fprintf(out, ": TPM 2.0 %s%s%s, TPM 1.2 %s%s%s\n", cli_status(deep->tpm_2_0),
            deep->error_2_0[0] ? ": " : "", deep->error_2_0, cli_status(deep->tpm_1_2),
            deep->error_1_2[0] ? ": " : "", deep->error_1_2);
}

void
vtpm_cli_print_report(FILE *out, const vtpm_conf *conf, const vtpm_facts *facts,
                      const vtpm_report *report, const vtpm_warnings *warnings)
{
    fprintf(out, "host: %s%s%s\n", report->host, report->provider_uuid[0] ? " provider " : "",
            report->provider_uuid);
    fprintf(out, "config: swtpm_enabled %s, virt_type %s\n", conf->swtpm_enabled ? "true" : "false",
            conf->virt_type);
    cli_print_libvirt(out, conf, &facts->libvirt);
    cli_print_swtpm(out, &facts->swtpm);
    cli_print_system(out, conf, &facts->system);
    cli_print_deep(out, &facts->deep);
    fprintf(out, "traits:\n");
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        const vtpm_trait_decision *d = &report->traits[t];

        fprintf(out, "  %s: %s: %s [%s]\n", vtpm_trait_name((vtpm_trait)t),
                d->state == VTPM_TRAIT_STATE_PRESENT ? "present" : "absent", d->reason,
                d->reason_code ? d->reason_code : "");
    }
    if (warnings && warnings->count) {
        fprintf(out, "warnings:\n");
        for (size_t i = 0; i < warnings->count; i++)
            fprintf(out, "  %s\n", warnings->text[i]);
    }
    if (report->inconclusive)
        fprintf(out, "result: inconclusive: %s\n", report->inconclusive_reason);
    else
        fprintf(out, "result: %u of %d traits present\n",
                vtpm_traitset_count(vtpm_report_present(report)), VTPM_TRAIT_COUNT);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

typedef struct {
    const char *config;
    bool json;
    bool deep;
    bool no_delay;
    bool force;
    bool verbose;
    const char *metrics_file;
} cli_options;

/*
 * Loads the configuration. A missing default file means the defaults when
 * @optional_default (probe: the operator is exploring), and an error
 * otherwise (run: publishing "everything absent" for a missing file would
 * strip a good host of its traits).
 */
static int
cli_load_conf(const cli_options *opts, bool optional_default, vtpm_conf *conf, FILE *err)
{
    const char *path = opts->config ? opts->config : vtpm_cli_default_config();
    char msg[512];

    if (!opts->config && optional_default && access(path, F_OK) != 0 && errno == ENOENT) {
        vtpm_conf_init_defaults(conf);
        fprintf(err, PROGNAME ": warning: no config '%s': using the defaults\n", path);
        return 0;
    }
    if (vtpm_conf_load_file(path, conf, msg, sizeof(msg)) < 0) {
        fprintf(err, PROGNAME ": error: %s\n", msg);
        return -1;
    }
    return 0;
}

/* Allocates the three results (the caller frees them), probes, decides and
 * attaches the facts to the report. */
static void
cli_probe_decide(const vtpm_conf *conf, bool deep, vtpm_facts **facts_out,
                 vtpm_report **report_out, vtpm_warnings **warnings_out)
{
    vtpm_facts *facts = *facts_out = vtpm_alloc_calloc(1, sizeof(*facts));
    vtpm_report *report = *report_out = vtpm_alloc_calloc(1, sizeof(*report));
    vtpm_warnings *warnings = *warnings_out = vtpm_alloc_calloc(1, sizeof(*warnings));

    vtpm_probe_run(conf, deep, facts);
    vtpm_decide(facts, conf, report);
    vtpm_decide_warnings(facts, conf, warnings);
    report->facts_json = VTPM_ALLOC_CHECK(vtpm_facts_to_string(facts));
}

static int
cli_probe(const cli_options *opts, FILE *out, FILE *err)
{
    vtpm_conf conf;
    vtpm_facts *facts = NULL;
    vtpm_report *report = NULL;
    vtpm_warnings *warnings = NULL;
    int rc = VTPM_EXIT_FAILURE;

    if (cli_load_conf(opts, true, &conf, err) < 0) {
        vtpm_conf_clear(&conf);
        return VTPM_EXIT_USAGE;
    }
    cli_probe_decide(&conf, opts->deep, &facts, &report, &warnings);
    if (opts->json) {
        json_t *doc = VTPM_ALLOC_CHECK(vtpm_report_to_json(facts, report, warnings));

        if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            json_decref(doc);
            fprintf(err, PROGNAME ": error: cannot write the JSON report\n");
            goto cleanup;
        }
        fputc('\n', out);
        json_decref(doc);
    } else {
        vtpm_cli_print_report(out, &conf, facts, report, warnings);
    }
    if (fflush(out) != 0) {
        fprintf(err, PROGNAME ": error: cannot write the report: %s\n", strerror(errno));
        goto cleanup;
    }
    rc = report->inconclusive ? VTPM_EXIT_INCONCLUSIVE : VTPM_EXIT_OK;

cleanup:
    if (report)
        free(report->facts_json);
    free(report);
    free(facts);
    free(warnings);
    vtpm_conf_clear(&conf);
    return rc;
}

static int
cli_run(const cli_options *opts, FILE *out, FILE *err, vtpm_metrics_run *metrics)
{
    vtpm_conf conf;
    vtpm_facts *facts = NULL;
    vtpm_report *report = NULL;
    vtpm_warnings *warnings = NULL;
    vtpm_run_options run_opts = { 0 };
    vtpm_publish_result result = { 0 };
    vtpm_publisher publisher = { 0 };
    char perr[256];
    int rc;

    if (cli_load_conf(opts, false, &conf, err) < 0) {
        vtpm_conf_clear(&conf);
        return VTPM_EXIT_USAGE;
    }
    /* before probing: a publisher that cannot work is a configuration error */
    if (vtpm_publisher_open(&publisher, &conf, perr, sizeof(perr)) < 0) {
        fprintf(err, PROGNAME ": error: %s\n", perr);
        vtpm_conf_clear(&conf);
        return VTPM_EXIT_USAGE;
    }
    run_opts.publisher = &publisher;
    cli_probe_decide(&conf, opts->deep, &facts, &report, &warnings);
    vtpm_metrics_run_report(metrics, report);
    for (size_t i = 0; i < warnings->count; i++)
        VTPM_WARN("%s", warnings->text[i]);
    if (report->inconclusive)
        VTPM_WARN("probe inconclusive: %s", report->inconclusive_reason);
    run_opts.no_delay = opts->no_delay;
    run_opts.ignore_heartbeat = opts->force;
    rc = vtpm_run(&conf, report, &run_opts, &result);
    metrics->heartbeat_publish = (double)result.heartbeat_publish;
    metrics->published_at = result.published_at;
    /* failures are logged by vtpm_run(); say what was stored on success */
    if (rc == VTPM_EXIT_OK || rc == VTPM_EXIT_UNCHANGED || rc == VTPM_EXIT_INCONCLUSIVE)
        fprintf(out, "%s: %s\n", report->host, result.message[0] ? result.message : "published");

    vtpm_publisher_close(&publisher);
    free(report->facts_json);
    free(report);
    free(facts);
    free(warnings);
    vtpm_conf_clear(&conf);
    return rc;
}

/* cli_run(), and then --metrics-file, whatever the outcome: a run that
 * fails is what the file is there to show. Its exit status stays the run's. */
static int
cli_run_measured(const cli_options *opts, FILE *out, FILE *err)
{
    vtpm_metrics_run metrics;
    char msg[4096 + 128];
    int rc;

    if (opts->metrics_file && vtpm_metrics_check_path(opts->metrics_file, msg, sizeof(msg)) < 0) {
        fprintf(err, PROGNAME ": error: %s\n", msg);
        return VTPM_EXIT_USAGE;
    }
    vtpm_metrics_run_start(&metrics);
    rc = cli_run(opts, out, err, &metrics);
    vtpm_metrics_run_finish(&metrics, rc);
    if (opts->metrics_file && vtpm_metrics_write(opts->metrics_file, &metrics, msg,
                                                 sizeof(msg)) < 0)
        VTPM_ERROR("%s", msg);
    return rc;
}

/* Takes one option into @opts. Returns -1 to go on, else the exit code to
 * end with (after --help, --version or an error). */
static int
cli_take_option(int c, char **argv, cli_options *opts, FILE *out, FILE *err)
{
    switch (c) {
    case 'c':
        opts->config = optarg;
        return -1;
    case 'j':
        opts->json = true;
        return -1;
    case 'd':
        opts->deep = true;
        return -1;
    case 'n':
        opts->no_delay = true;
        return -1;
    case 'f':
        opts->force = true;
        return -1;
    case 'm':
        opts->metrics_file = optarg;
        return -1;
    case 'v':
        opts->verbose = true;
        return -1;
    case 'h':
        cli_usage(out);
        return VTPM_EXIT_OK;
    case 'V':
        fprintf(out, PROGNAME " %s\n", VTPM_VERSION);
        return VTPM_EXIT_OK;
    case ':':
        fprintf(err, PROGNAME ": error: option '%s' needs a value\n", argv[optind - 1]);
        fprintf(err, "Try '" PROGNAME " --help'.\n");
        return VTPM_EXIT_USAGE;
    default:
        if (optopt)
            fprintf(err, PROGNAME ": error: unknown option '-%c'\n", optopt);
        else
            fprintf(err, PROGNAME ": error: unknown option '%s'\n", argv[optind - 1]);
        fprintf(err, "Try '" PROGNAME " --help'.\n");
        return VTPM_EXIT_USAGE;
    }
}

/* Parses the options and the command into @opts and @command. Returns -1 to
 * go on, else the exit code to end with. */
static int
cli_parse(int argc, char **argv, cli_options *opts, const char **command, FILE *out,
          FILE *err)
{
    static const struct option long_opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "deep", no_argument, NULL, 'd' },
        { "no-delay", no_argument, NULL, 'n' },
        { "force", no_argument, NULL, 'f' },
        { "metrics-file", required_argument, NULL, 'm' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    /* options may come before or after the command; "+" keeps getopt from
     * permuting so that a test can call this more than once */
    optind = 0;
    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, "+:c:jdnfm:vhV", long_opts, NULL);
        if (c == -1) {
            if (optind < argc && !*command) {
                *command = argv[optind++];
                continue;
            }
            if (optind < argc) {
                fprintf(err, PROGNAME ": error: unexpected argument '%s'\n", argv[optind]);
                return VTPM_EXIT_USAGE;
            }
            return -1;
        }
        if ((rc = cli_take_option(c, argv, opts, out, err)) >= 0)
            return rc;
    }
}

int
vtpm_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    cli_options opts = { 0 };
    const char *command = NULL;
    bool is_probe, is_run;
    int rc;

    if ((rc = cli_parse(argc, argv, &opts, &command, out, err)) >= 0)
        return rc;
    vtpm_log_init(PROGNAME, opts.verbose ? VTPM_LOG_DEBUG : VTPM_LOG_INFO);

    if (!command) {
        cli_usage(err);
        return VTPM_EXIT_USAGE;
    }
    if (strcmp(command, "help") == 0) {
        cli_usage(out);
        return VTPM_EXIT_OK;
    }
    is_probe = strcmp(command, "probe") == 0;
    is_run = strcmp(command, "run") == 0;
    if (!is_probe && !is_run) {
        fprintf(err, PROGNAME ": error: unknown command '%s'\nTry '" PROGNAME " --help'.\n",
                command);
        return VTPM_EXIT_USAGE;
    }
    if (is_probe && (opts.no_delay || opts.force)) {
        fprintf(err, PROGNAME ": error: --%s applies to run only\n",
                opts.no_delay ? "no-delay" : "force");
        return VTPM_EXIT_USAGE;
    }
    if (is_probe && opts.metrics_file) {
        fprintf(err, PROGNAME ": error: --metrics-file applies to run only\n");
        return VTPM_EXIT_USAGE;
    }
    if (is_run && opts.json) {
        fprintf(err, PROGNAME ": error: --json applies to probe only\n");
        return VTPM_EXIT_USAGE;
    }
    return is_probe ? cli_probe(&opts, out, err) : cli_run_measured(&opts, out, err);
}
