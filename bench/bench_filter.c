/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark of libvtpm-filter: requests translated and host checks per second. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <vtpm/filter.h>

#include "trait.h"

/*
 * The request mix is built from weighted templates. Each request carries
 * about ten flavor extra specs and a few image properties that have nothing
 * to do with TPM (the common case for a scheduler), plus the template's TPM
 * keys. Invalid values appear only in flavor extra specs: Nova's ImageMeta
 * refuses an invalid hw_tpm_* image property before get_vtpm_constraint ever
 * sees it, so the reference could not even build such an image.
 */

typedef struct {
    const char *key;
    const char *value;
} bench_kv;

#define TMPL_MAX_FLAVOR 4 /* NULL-terminated */
#define TMPL_MAX_IMAGE 3

/* Field order follows the positional table below, not the tightest packing. */
typedef struct { /* NOLINT(clang-analyzer-optin.performance.Padding) */
    const char *name;
    unsigned int weight;
    bench_kv flavor[TMPL_MAX_FLAVOR];
    bench_kv image[TMPL_MAX_IMAGE];
    /* What the template is designed to give; checked before timing. */
    vtpm_code code_current;
    vtpm_code code_legacy;
    vtpm_version version;
    vtpm_model model;
    vtpm_secret_security secret_security; /* under the current profile */
} bench_template;

#define ACCEPT_NONE VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_NONE, \
    VTPM_MODEL_NONE, VTPM_SECRET_SECURITY_NONE
#define REJECT(code) code, code, VTPM_VERSION_NONE, VTPM_MODEL_NONE, \
    VTPM_SECRET_SECURITY_NONE

static const bench_template templates[] = {
    { "no-tpm", 55, { { NULL, NULL } }, { { NULL, NULL } }, ACCEPT_NONE },
    { "model-without-version", 2, { { "hw:tpm_model", "tpm-crb" } },
      { { NULL, NULL } }, ACCEPT_NONE },
    { "empty-version", 1, { { "hw:tpm_version", "" } }, { { NULL, NULL } },
      ACCEPT_NONE },
    { "2.0-tis-default", 10, { { "hw:tpm_version", "2.0" } },
      { { NULL, NULL } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_USER },
    { "2.0-tis-image", 5, { { NULL, NULL } },
      { { "hw_tpm_version", "2.0" }, { "hw_tpm_model", "tpm-tis" } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_USER },
    { "2.0-crb", 7,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_model", "tpm-crb" } },
      { { NULL, NULL } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_CRB,
      VTPM_SECRET_SECURITY_USER },
    { "2.0-flavor-crb-image", 3, { { "hw:tpm_version", "2.0" } },
      { { "hw_tpm_model", "tpm-crb" } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_CRB,
      VTPM_SECRET_SECURITY_USER },
    { "1.2-tis", 4, { { "hw:tpm_version", "1.2" } }, { { NULL, NULL } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_1_2, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_USER },
    { "2.0-host", 3,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_secret_security", "host" } },
      { { NULL, NULL } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_HOST },
    { "2.0-crb-deployment", 2,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_model", "tpm-crb" },
        { "hw:tpm_secret_security", "deployment" } },
      { { NULL, NULL } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_CRB,
      VTPM_SECRET_SECURITY_DEPLOYMENT },
    { "same-in-both", 2, { { "hw:tpm_version", "2.0" } },
      { { "hw_tpm_version", "2.0" } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_USER },
    { "empty-flavor-image-2.0", 1, { { "hw:tpm_version", "" } },
      { { "hw_tpm_version", "2.0" } },
      VTPM_CODE_NONE, VTPM_CODE_NONE, VTPM_VERSION_2_0, VTPM_MODEL_TIS,
      VTPM_SECRET_SECURITY_USER },
    { "version-conflict", 2, { { "hw:tpm_version", "2.0" } },
      { { "hw_tpm_version", "1.2" } },
      REJECT(VTPM_CODE_FLAVOR_IMAGE_CONFLICT) },
    { "model-conflict", 1,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_model", "tpm-tis" } },
      { { "hw_tpm_model", "tpm-crb" } },
      REJECT(VTPM_CODE_FLAVOR_IMAGE_CONFLICT) },
    { "invalid-version", 1, { { "hw:tpm_version", "3.0" } },
      { { NULL, NULL } }, REJECT(VTPM_CODE_INVALID_VERSION) },
    { "version-whitespace", 1, { { "hw:tpm_version", "2.0 " } },
      { { NULL, NULL } }, REJECT(VTPM_CODE_INVALID_VERSION) },
    { "invalid-model-case", 1,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_model", "TPM-CRB" } },
      { { NULL, NULL } }, REJECT(VTPM_CODE_INVALID_MODEL) },
    { "crb-with-1.2", 1,
      { { "hw:tpm_version", "1.2" }, { "hw:tpm_model", "tpm-crb" } },
      { { NULL, NULL } }, REJECT(VTPM_CODE_CRB_REQUIRES_2_0) },
    { "crb-with-1.2-image", 1, { { NULL, NULL } },
      { { "hw_tpm_version", "1.2" }, { "hw_tpm_model", "tpm-crb" } },
      REJECT(VTPM_CODE_CRB_REQUIRES_2_0) },
    { "invalid-secret-security", 1,
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_secret_security", "admin" } },
      { { NULL, NULL } },
      /* The legacy profile (Nova Zed) ignores secret security. */
      VTPM_CODE_INVALID_SECRET_SECURITY, VTPM_CODE_NONE, VTPM_VERSION_2_0,
      VTPM_MODEL_TIS, VTPM_SECRET_SECURITY_NONE },
};
#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))

/* Extra specs and image properties that are not about TPM. */
static const bench_kv flavor_noise[] = {
    { "hw:cpu_policy", "dedicated" },
    { "hw:cpu_thread_policy", "prefer" },
    { "hw:mem_page_size", "large" },
    { "hw:numa_nodes", "1" },
    { "hw:watchdog_action", "reset" },
    { "hw:vif_multiqueue_enabled", "true" },
    { "hw:emulator_threads_policy", "share" },
    { "hw:boot_menu", "true" },
    { "hw:pmu", "false" },
    { "hw_rng:allowed", "True" },
    { "quota:disk_read_bytes_sec", "10240000" },
    { "quota:disk_write_bytes_sec", "10240000" },
    { "quota:vif_inbound_average", "102400" },
    { "aggregate_instance_extra_specs:ssd", "true" },
    { "trait:HW_CPU_X86_AVX2", "required" },
    { "os:secure_boot", "disabled" },
};
#define N_FLAVOR_NOISE (sizeof(flavor_noise) / sizeof(flavor_noise[0]))
#define FLAVOR_NOISE_PER_REQUEST 10

static const bench_kv image_noise[] = {
    { "hw_disk_bus", "virtio" },
    { "hw_vif_model", "virtio" },
    { "os_distro", "ubuntu" },
    { "hw_machine_type", "q35" },
    { "hw_firmware_type", "uefi" },
    { "hw_scsi_model", "virtio-scsi" },
    { "os_type", "linux" },
    { "hw_video_model", "virtio" },
};
#define N_IMAGE_NOISE (sizeof(image_noise) / sizeof(image_noise[0]))
#define IMAGE_NOISE_PER_REQUEST 4

#define REQ_MAX_FLAVOR (FLAVOR_NOISE_PER_REQUEST + TMPL_MAX_FLAVOR)
#define REQ_MAX_IMAGE (IMAGE_NOISE_PER_REQUEST + TMPL_MAX_IMAGE)

typedef struct {
    const bench_template *tmpl;
    size_t n_flavor;
    size_t n_image;
    bench_kv flavor[REQ_MAX_FLAVOR];
    bench_kv image[REQ_MAX_IMAGE];
} bench_request;

typedef struct {
    size_t n_mix;
    bench_request *mix;
    vtpm_request **prepared; /* one filled vtpm_request per mix entry */
    vtpm_request *scratch;   /* reset and refilled per request */
    vtpm_result *res;
    const vtpm_filter *filter;
    size_t failures;         /* calls that did not return VTPM_OK */
    /* host checks */
    size_t n_hosts;
    vtpm_traitset *hosts;
    size_t *passing;
    vtpm_traitset required[8];
    size_t n_required;
    size_t next_required;
} bench_ctx;

/* Defeats dead-code elimination: every phase folds its results in here. */
static volatile uint64_t bench_sink;

/* A deterministic generator, so every run times the same mix. */
static uint64_t
rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

static size_t
rng_below(uint64_t *state, size_t n)
{
    return (size_t)(rng_next(state) % n);
}

static double
clock_seconds(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
request_build(bench_request *r, const bench_template *t, uint64_t *rng)
{
    size_t start, i;

    r->tmpl = t;
    r->n_flavor = 0;
    r->n_image = 0;
    start = rng_below(rng, N_FLAVOR_NOISE);
    for (i = 0; i < FLAVOR_NOISE_PER_REQUEST; i++)
        r->flavor[r->n_flavor++] = flavor_noise[(start + i) % N_FLAVOR_NOISE];
    for (i = 0; i < TMPL_MAX_FLAVOR && t->flavor[i].key; i++)
        r->flavor[r->n_flavor++] = t->flavor[i];
    start = rng_below(rng, N_IMAGE_NOISE);
    for (i = 0; i < IMAGE_NOISE_PER_REQUEST; i++)
        r->image[r->n_image++] = image_noise[(start + i) % N_IMAGE_NOISE];
    for (i = 0; i < TMPL_MAX_IMAGE && t->image[i].key; i++)
        r->image[r->n_image++] = t->image[i];
}

/* Every template at least once, the rest by weight, then shuffled. */
static bench_request *
mix_build(size_t n, uint64_t *rng)
{
    bench_request *mix = calloc(n, sizeof(*mix));
    unsigned int total = 0;
    size_t i, t;

    if (!mix)
        return NULL;
    for (t = 0; t < N_TEMPLATES; t++)
        total += templates[t].weight;
    for (i = 0; i < n; i++) {
        const bench_template *tmpl = NULL;

        if (i < N_TEMPLATES) {
            tmpl = &templates[i];
        } else {
            unsigned int pick = (unsigned int)rng_below(rng, total);

            for (t = 0; t < N_TEMPLATES; t++) {
                if (pick < templates[t].weight) {
                    tmpl = &templates[t];
                    break;
                }
                pick -= templates[t].weight;
            }
        }
        request_build(&mix[i], tmpl, rng);
    }
    for (i = n - 1; i > 0; i--) {
        size_t j = rng_below(rng, i + 1);
        bench_request tmp = mix[i];

        mix[i] = mix[j];
        mix[j] = tmp;
    }
    return mix;
}

static vtpm_status
request_fill(vtpm_request *req, const bench_request *r)
{
    vtpm_status st = VTPM_OK;
    size_t k;

    vtpm_request_reset(req);
    for (k = 0; k < r->n_flavor && st == VTPM_OK; k++)
        st = vtpm_request_set_flavor_spec(req, r->flavor[k].key,
                                          r->flavor[k].value);
    for (k = 0; k < r->n_image && st == VTPM_OK; k++)
        st = vtpm_request_set_image_property(req, r->image[k].key,
                                             r->image[k].value);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Verdicts: the mix must mean what it says before it is timed.             */

static bool
verdict_matches(const vtpm_result *res, const bench_template *t,
                vtpm_profile profile)
{
    vtpm_code want = profile == VTPM_PROFILE_CURRENT ? t->code_current
                                                     : t->code_legacy;

    if (vtpm_result_code(res) != want)
        return false;
    if (want != VTPM_CODE_NONE)
        return !vtpm_result_accepted(res);
    if (!vtpm_result_accepted(res) ||
        vtpm_result_version(res) != t->version ||
        vtpm_result_model(res) != t->model)
        return false;
    if (profile == VTPM_PROFILE_LEGACY)
        return vtpm_result_secret_security(res) == VTPM_SECRET_SECURITY_NONE;
    return vtpm_result_secret_security(res) == t->secret_security;
}

static const char *
name_or_null(const char *s)
{
    return s ? s : "null";
}

static bool
mix_check(bench_ctx *ctx, const vtpm_filter *filter, vtpm_profile profile)
{
    size_t i, bad = 0;

    for (i = 0; i < ctx->n_mix; i++) {
        const bench_request *r = &ctx->mix[i];
        vtpm_traitset required;
        vtpm_code code;
        /* The one-call decision agrees with translation on the mix too
         * (tests/scheduler/filter/test_outcomes.c proves it on every request). */
        bool accepted = vtpm_filter_required_traits(filter, ctx->prepared[i],
                                                    &required, &code);

        if (vtpm_filter_translate(filter, ctx->prepared[i], ctx->res) != VTPM_OK ||
            !verdict_matches(ctx->res, r->tmpl, profile) ||
            accepted != vtpm_result_accepted(ctx->res) ||
            code != vtpm_result_code(ctx->res) ||
            required != vtpm_result_required_traits(ctx->res)) {
            if (bad++ < 10)
                fprintf(stderr, "bench_filter: request %zu (template '%s', "
                        "profile %s) gave %s %s/%s/%s: %s\n", i, r->tmpl->name,
                        profile == VTPM_PROFILE_CURRENT ? "current" : "legacy",
                        vtpm_code_name(vtpm_result_code(ctx->res)),
                        name_or_null(vtpm_version_name(vtpm_result_version(ctx->res))),
                        name_or_null(vtpm_model_name(vtpm_result_model(ctx->res))),
                        name_or_null(vtpm_secret_security_name(
                            vtpm_result_secret_security(ctx->res))),
                        vtpm_result_message(ctx->res));
        }
    }
    if (bad > 0)
        fprintf(stderr, "bench_filter: %zu of %zu requests did not translate "
                "as designed\n", bad, ctx->n_mix);
    return bad == 0;
}

static json_t *
kv_object(const bench_kv *kv, size_t n)
{
    json_t *obj = json_object();
    size_t i;

    for (i = 0; obj && i < n; i++) {
        if (json_object_set_new(obj, kv[i].key, json_string(kv[i].value)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/*
 * Writes the mix, one request per line in vtpm-filter's input format, with
 * the verdict of the legacy profile (Nova Zed has no secret security) under
 * "legacy", for the Nova reference to compare with.
 */
static bool
mix_write(bench_ctx *ctx, const vtpm_filter *legacy, const char *path)
{
    FILE *f = fopen(path, "w");
    size_t i;
    bool ok = f != NULL;

    if (!f) {
        fprintf(stderr, "bench_filter: cannot open '%s': %s\n", path,
                strerror(errno));
        return false;
    }
    for (i = 0; ok && i < ctx->n_mix; i++) {
        const bench_request *r = &ctx->mix[i];
        json_t *line, *verdict;
        char fname[64], iname[64];

        if (vtpm_filter_translate(legacy, ctx->prepared[i], ctx->res) != VTPM_OK) {
            ok = false;
            break;
        }
        if (vtpm_result_accepted(ctx->res))
            verdict = json_pack("{s:s, s:s?, s:s?}", "result", "accept",
                                "version",
                                vtpm_version_name(vtpm_result_version(ctx->res)),
                                "model",
                                vtpm_model_name(vtpm_result_model(ctx->res)));
        else
            verdict = json_pack("{s:s, s:s}", "result", "reject", "code",
                                vtpm_code_name(vtpm_result_code(ctx->res)));
        snprintf(fname, sizeof(fname), "bench-flavor-%zu", i);
        snprintf(iname, sizeof(iname), "bench-image-%zu", i);
        line = json_pack("{s:s, s:{s:s, s:o*}, s:{s:s, s:o*}, s:o*}",
                         "template", r->tmpl->name,
                         "flavor", "name", fname,
                         "extra_specs", kv_object(r->flavor, r->n_flavor),
                         "image", "name", iname,
                         "properties", kv_object(r->image, r->n_image),
                         "legacy", verdict);
        ok = line && json_dumpf(line, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
        json_decref(line);
    }
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "bench_filter: cannot write the mix to '%s'\n", path);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Phases. Each unit of work returns a checksum and how many operations.   */

typedef uint64_t (*bench_unit)(bench_ctx *ctx, uint64_t *ops);

/* What a scheduler does per request: reset, set every key, translate. */
static uint64_t
unit_fill_translate(bench_ctx *ctx, uint64_t *ops)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < ctx->n_mix; i++) {
        if (request_fill(ctx->scratch, &ctx->mix[i]) != VTPM_OK ||
            vtpm_filter_translate(ctx->filter, ctx->scratch, ctx->res) != VTPM_OK)
            ctx->failures++;
        sum += vtpm_result_accepted(ctx->res) + vtpm_result_required_traits(ctx->res);
    }
    *ops += ctx->n_mix;
    return sum;
}

/*
 * What a scheduler does per request with vtpm_filter_required_traits: reset,
 * set every key, then one call for the decision and the required traits.
 */
static uint64_t
unit_fill_required_traits(bench_ctx *ctx, uint64_t *ops)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < ctx->n_mix; i++) {
        vtpm_traitset required;
        vtpm_code code;
        bool accepted;

        if (request_fill(ctx->scratch, &ctx->mix[i]) != VTPM_OK)
            ctx->failures++;
        accepted = vtpm_filter_required_traits(ctx->filter, ctx->scratch,
                                               &required, &code);
        sum += accepted + required + code;
    }
    *ops += ctx->n_mix;
    return sum;
}

/* The decision alone, of requests filled beforehand: one call per request. */
static uint64_t
unit_required_traits(bench_ctx *ctx, uint64_t *ops)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < ctx->n_mix; i++) {
        vtpm_traitset required;
        vtpm_code code;
        bool accepted = vtpm_filter_required_traits(ctx->filter, ctx->prepared[i],
                                                    &required, &code);

        sum += accepted + required + code;
    }
    *ops += ctx->n_mix;
    return sum;
}

/* Translation alone, of requests filled beforehand: translate, then the two
 * accessors a scheduler needs (three calls per request). */
static uint64_t
unit_translate(bench_ctx *ctx, uint64_t *ops)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < ctx->n_mix; i++) {
        if (vtpm_filter_translate(ctx->filter, ctx->prepared[i], ctx->res) != VTPM_OK)
            ctx->failures++;
        sum += vtpm_result_accepted(ctx->res) + vtpm_result_required_traits(ctx->res);
    }
    *ops += ctx->n_mix;
    return sum;
}

static vtpm_traitset
next_required(bench_ctx *ctx)
{
    vtpm_traitset r = ctx->required[ctx->next_required];

    ctx->next_required = (ctx->next_required + 1) % ctx->n_required;
    return r;
}

static uint64_t
unit_hosts_filter(bench_ctx *ctx, uint64_t *ops)
{
    size_t n = vtpm_hosts_filter(next_required(ctx), ctx->hosts, ctx->n_hosts,
                                 ctx->passing);

    *ops += ctx->n_hosts;
    return n + (n ? ctx->passing[n / 2] : 0);
}

static uint64_t
unit_host_inline(bench_ctx *ctx, uint64_t *ops)
{
    vtpm_traitset required = next_required(ctx), missing, any_missing = 0;
    uint64_t count = 0;
    size_t i;

    for (i = 0; i < ctx->n_hosts; i++) {
        count += vtpm_host_passes(required, ctx->hosts[i], &missing);
        any_missing |= missing;
    }
    *ops += ctx->n_hosts;
    return count + any_missing;
}

static uint64_t
unit_host_exported(bench_ctx *ctx, uint64_t *ops)
{
    vtpm_traitset required = next_required(ctx);
    uint64_t count = 0;
    size_t i;

    for (i = 0; i < ctx->n_hosts; i++)
        count += vtpm_host_check(required, ctx->hosts[i], NULL);
    *ops += ctx->n_hosts;
    return count;
}

#define ROUNDS 5

typedef struct {
    double median;     /* operations per second of elapsed (monotonic) time */
    double spread;     /* (max - min) / median */
    double cpu_median; /* operations per second of this thread's CPU time */
} bench_rate;

static int
double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/*
 * Runs @unit in ROUNDS rounds of @seconds / ROUNDS each (CLOCK_MONOTONIC),
 * after a warm-up, and returns the median rate in operations per second.
 * The rate per second of this thread's CPU time is measured alongside: on a
 * machine shared with other work it tells how much of a low figure is time
 * spent waiting for the CPU.
 */
static bench_rate
phase_run(bench_ctx *ctx, bench_unit unit, double seconds)
{
    double rates[ROUNDS], cpu_rates[ROUNDS], round_time = seconds / ROUNDS;
    uint64_t sum = 0, ops = 0;
    bench_rate r;
    int k;

    for (k = 0; k < 3; k++)
        sum += unit(ctx, &ops);
    for (k = 0; k < ROUNDS; k++) {
        double start = clock_seconds(CLOCK_MONOTONIC), elapsed;
        double cpu_start = clock_seconds(CLOCK_THREAD_CPUTIME_ID);

        ops = 0;
        do {
            sum += unit(ctx, &ops);
            elapsed = clock_seconds(CLOCK_MONOTONIC) - start;
        } while (elapsed < round_time);
        rates[k] = (double)ops / elapsed;
        cpu_rates[k] = (double)ops /
                       (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
    }
    bench_sink += sum;
    qsort(rates, ROUNDS, sizeof(rates[0]), double_cmp);
    qsort(cpu_rates, ROUNDS, sizeof(cpu_rates[0]), double_cmp);
    r.median = rates[ROUNDS / 2];
    r.spread = (rates[ROUNDS - 1] - rates[0]) / r.median;
    r.cpu_median = cpu_rates[ROUNDS / 2];
    return r;
}

static void
rate_print(const char *key, const char *what, bench_rate r)
{
    printf("%-58s %14.0f /s  (spread %5.1f%%, per CPU second %.0f)\n", what,
           r.median, r.spread * 100.0, r.cpu_median);
    printf("%s=%.0f\n%s_cpu=%.0f\n", key, r.median, key, r.cpu_median);
}

/* ------------------------------------------------------------------------ */

/* Per-trait probabilities of a host having it: a mixed, realistic fleet. */
static const unsigned int host_trait_percent[VTPM_TRAIT_COUNT] = {
    [VTPM_TRAIT_TPM_1_2] = 10,
    [VTPM_TRAIT_TPM_2_0] = 80,
    [VTPM_TRAIT_TPM_TIS] = 85,
    [VTPM_TRAIT_TPM_CRB] = 75,
    [VTPM_TRAIT_SECRET_SECURITY_USER] = 80,
    [VTPM_TRAIT_SECRET_SECURITY_HOST] = 40,
    [VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT] = 20,
};

static bool
hosts_build(bench_ctx *ctx, uint64_t *rng)
{
    size_t i;
    int t;

    ctx->hosts = calloc(ctx->n_hosts, sizeof(*ctx->hosts));
    ctx->passing = calloc(ctx->n_hosts, sizeof(*ctx->passing));
    if (!ctx->hosts || !ctx->passing)
        return false;
    for (i = 0; i < ctx->n_hosts; i++) {
        vtpm_traitset set = 0;

        for (t = 0; t < VTPM_TRAIT_COUNT; t++)
            if (rng_below(rng, 100) < host_trait_percent[t])
                set |= VTPM_TRAITSET_BIT(t);
        ctx->hosts[i] = set;
    }
    return true;
}

/* The distinct trait sets that the mix's accepted vTPM requests require. */
static void
required_collect(bench_ctx *ctx)
{
    size_t i, j;

    ctx->n_required = 0;
    for (i = 0; i < ctx->n_mix; i++) {
        vtpm_traitset req;

        if (vtpm_filter_translate(ctx->filter, ctx->prepared[i], ctx->res) != VTPM_OK)
            continue;
        req = vtpm_result_required_traits(ctx->res);
        if (req == 0)
            continue;
        for (j = 0; j < ctx->n_required && ctx->required[j] != req; j++)
            ;
        if (j == ctx->n_required &&
            ctx->n_required < sizeof(ctx->required) / sizeof(ctx->required[0]))
            ctx->required[ctx->n_required++] = req;
    }
}

static void
usage(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [--seconds S] [--mix N] [--hosts N] [--mix-out FILE]\n"
            "          [--phase all|fill|required|translate|hosts]\n"
            "\n"
            "Times libvtpm-filter on one core: requests decided per second\n"
            "(filling a request and deciding it, and deciding alone; each with\n"
            "the one call vtpm_filter_required_traits, and with\n"
            "vtpm_filter_translate plus the accessors vtpm_result_accepted and\n"
            "vtpm_result_required_traits) and host checks per second.\n"
            "Prints each figure readable, and as\n"
            "name=value lines for scripts: per elapsed second (CLOCK_MONOTONIC)\n"
            "and, as name_cpu=value, per second of this thread's CPU time.\n"
            "\n"
            "  --seconds S     time per phase (default 1.5)\n"
            "  --mix N         distinct requests in the mix (default 1024)\n"
            "  --hosts N       hosts with random trait sets (default 100000)\n"
            "  --mix-out FILE  also write the mix as JSON lines, with the legacy\n"
            "                  profile's verdicts, for bench/nova_vtpm_reference.py\n"
            "  --phase P       time only one group of phases (for profiling)\n",
            prog);
}

static bool
parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > (1ull << 32))
        return false;
    *out = (size_t)v;
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "seconds", required_argument, NULL, 's' },
        { "mix", required_argument, NULL, 'm' },
        { "hosts", required_argument, NULL, 'n' },
        { "mix-out", required_argument, NULL, 'o' },
        { "phase", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bench_ctx ctx = { .n_mix = 1024, .n_hosts = 100000 };
    vtpm_filter *current = NULL, *legacy = NULL;
    const char *mix_out = NULL, *phase = "all";
    double seconds = 1.5;
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
    int opt, ret = 1;
    bool all;
    size_t i;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': {
            char *end;

            seconds = strtod(optarg, &end);
            if (end == optarg || *end || !(seconds > 0.0) || seconds > 600.0) {
                fprintf(stderr, "bench_filter: invalid --seconds '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'm':
        case 'n':
            if (!parse_size(optarg, opt == 'm' ? &ctx.n_mix : &ctx.n_hosts)) {
                fprintf(stderr, "bench_filter: invalid count '%s'\n", optarg);
                return 2;
            }
            break;
        case 'o':
            mix_out = optarg;
            break;
        case 'p':
            phase = optarg;
            if (strcmp(phase, "all") != 0 && strcmp(phase, "fill") != 0 &&
                strcmp(phase, "required") != 0 &&
                strcmp(phase, "translate") != 0 && strcmp(phase, "hosts") != 0) {
                fprintf(stderr, "bench_filter: unknown phase '%s'\n", phase);
                return 2;
            }
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (ctx.n_mix < N_TEMPLATES) {
        fprintf(stderr, "bench_filter: --mix must be at least %zu\n", N_TEMPLATES);
        return 2;
    }

    current = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    legacy = vtpm_filter_new(VTPM_PROFILE_LEGACY, 0, NULL);
    ctx.scratch = vtpm_request_new();
    ctx.res = vtpm_result_new();
    ctx.mix = mix_build(ctx.n_mix, &rng);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of request pointers */
    ctx.prepared = calloc(ctx.n_mix, sizeof(*ctx.prepared));
    if (!current || !legacy || !ctx.scratch || !ctx.res || !ctx.mix ||
        !ctx.prepared || !hosts_build(&ctx, &rng)) {
        fprintf(stderr, "bench_filter: out of memory\n");
        goto out;
    }
    for (i = 0; i < ctx.n_mix; i++) {
        ctx.prepared[i] = vtpm_request_new();
        if (!ctx.prepared[i] || request_fill(ctx.prepared[i], &ctx.mix[i]) != VTPM_OK) {
            fprintf(stderr, "bench_filter: cannot fill request %zu\n", i);
            goto out;
        }
    }
    if (!mix_check(&ctx, current, VTPM_PROFILE_CURRENT) ||
        !mix_check(&ctx, legacy, VTPM_PROFILE_LEGACY))
        goto out;
    if (mix_out && !mix_write(&ctx, legacy, mix_out))
        goto out;

    printf("libvtpm-filter %s, %zu distinct requests in the mix, %zu hosts, "
           "%.1f s per phase (median of %d rounds)\n",
           vtpm_filter_version(), ctx.n_mix, ctx.n_hosts, seconds, ROUNDS);

    all = strcmp(phase, "all") == 0;
    if (all || strcmp(phase, "fill") == 0) {
        ctx.filter = current;
        rate_print("c_fill_required_traits_current_per_s",
                   "requests/s, reset + set keys + required_traits (current)",
                   phase_run(&ctx, unit_fill_required_traits, seconds));
        ctx.filter = legacy;
        rate_print("c_fill_required_traits_legacy_per_s",
                   "requests/s, reset + set keys + required_traits (legacy)",
                   phase_run(&ctx, unit_fill_required_traits, seconds));
        ctx.filter = current;
        rate_print("c_fill_translate_current_per_s",
                   "requests/s, reset + set keys + translate (current)",
                   phase_run(&ctx, unit_fill_translate, seconds));
        ctx.filter = legacy;
        rate_print("c_fill_translate_legacy_per_s",
                   "requests/s, reset + set keys + translate (legacy)",
                   phase_run(&ctx, unit_fill_translate, seconds));
    }
    if (all || strcmp(phase, "required") == 0) {
        ctx.filter = current;
        rate_print("c_required_traits_current_per_s",
                   "requests/s, required_traits of prepared requests (current)",
                   phase_run(&ctx, unit_required_traits, seconds));
        ctx.filter = legacy;
        rate_print("c_required_traits_legacy_per_s",
                   "requests/s, required_traits of prepared requests (legacy)",
                   phase_run(&ctx, unit_required_traits, seconds));
    }
    if (all || strcmp(phase, "translate") == 0) {
        ctx.filter = current;
        rate_print("c_translate_current_per_s",
                   "requests/s, translate prepared requests (current)",
                   phase_run(&ctx, unit_translate, seconds));
        ctx.filter = legacy;
        rate_print("c_translate_legacy_per_s",
                   "requests/s, translate prepared requests (legacy)",
                   phase_run(&ctx, unit_translate, seconds));
    }
    if (all || strcmp(phase, "hosts") == 0) {
        ctx.filter = current;
        required_collect(&ctx);
        if (ctx.n_required == 0) {
            fprintf(stderr, "bench_filter: the mix requires no traits at all\n");
            goto out;
        }
        rate_print("c_hosts_filter_per_s",
                   "host checks/s, vtpm_hosts_filter() batch",
                   phase_run(&ctx, unit_hosts_filter, seconds));
        rate_print("c_host_inline_per_s",
                   "host checks/s, inline vtpm_host_passes() per host",
                   phase_run(&ctx, unit_host_inline, seconds));
        rate_print("c_host_exported_per_s",
                   "host checks/s, exported vtpm_host_check() per host",
                   phase_run(&ctx, unit_host_exported, seconds));
    }

    if (ctx.failures > 0) {
        fprintf(stderr, "bench_filter: %zu calls failed while timing\n",
                ctx.failures);
        goto out;
    }
    printf("checksum=%" PRIu64 "\n", (uint64_t)bench_sink);
    ret = 0;

out:
    if (ctx.prepared)
        for (i = 0; i < ctx.n_mix; i++)
            vtpm_request_free(ctx.prepared[i]);
    free(ctx.prepared);
    free(ctx.mix);
    free(ctx.hosts);
    free(ctx.passing);
    vtpm_result_free(ctx.res);
    vtpm_request_free(ctx.scratch);
    vtpm_filter_free(current);
    vtpm_filter_free(legacy);
    return ret;
}
