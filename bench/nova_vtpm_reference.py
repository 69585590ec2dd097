# SPDX-License-Identifier: Apache-2.0
# Times Nova's own get_vtpm_constraint on bench_filter's request mix and checks its verdicts.
"""Reference for bench/bench_filter.c: the same request mix through Nova.

Run with Debian's interpreter, which has python3-nova:

    /usr/bin/python3 bench/nova_vtpm_reference.py MIX.jsonl [--seconds S]

MIX.jsonl is written by `bench_filter --mix-out MIX.jsonl`: one request per
line in vtpm-filter's input format, plus "legacy", the verdict of
libvtpm-filter's legacy profile. Nova's Debian release (Zed) has no secret
security, so the legacy profile is the one that must agree with it.

Every request is turned into real nova.objects.Flavor and ImageMeta objects
first (a scheduler has them already); only get_vtpm_constraint is timed. If
any verdict differs from libvtpm-filter's, the differences are printed and
the exit status is 1. Otherwise two figures are printed, each also as a
machine-readable line:

    nova_translate_per_s=<requests per second, objects built beforehand>
    nova_build_translate_per_s=<requests per second, objects built per request>

each also per second of CPU time (name_cpu=...), as bench_filter does.

The second is the counterpart of bench_filter's "reset + set keys +
translate": the Flavor and ImageMeta objects are built from the request's
dictionaries for every request before get_vtpm_constraint runs.
"""

import argparse
import json
import statistics
import sys
import time

ROUNDS = 5


def load_nova():
    try:
        from nova import exception, objects
        from nova.virt import hardware
    except ImportError as e:
        sys.exit("nova_vtpm_reference: cannot import nova (%s); run it with "
                 "/usr/bin/python3 after scripts/setup.sh (Debian package "
                 "python3-nova)" % e)
    objects.register_all()
    return exception, objects, hardware


def nova_verdict(exception, hardware, flavor, image_meta):
    """What Nova decides, in the terms of vtpm-filter's JSON output."""
    try:
        config = hardware.get_vtpm_constraint(flavor, image_meta)
    except exception.FlavorImageConflict:
        return {"result": "reject", "code": "flavor_image_conflict"}
    except exception.Invalid as e:
        text = str(e)
        if text.startswith("Invalid TPM version"):
            code = "invalid_version"
        elif text.startswith("Invalid TPM model"):
            code = "invalid_model"
        elif "CRB is only valid with TPM version 2.0" in text:
            code = "crb_requires_2_0"
        else:
            code = "unrecognised: " + text
        return {"result": "reject", "code": code}
    if config is None:
        return {"result": "accept", "version": None, "model": None}
    return {"result": "accept", "version": config.version,
            "model": config.model}


def c_verdict(line):
    v = line["legacy"]
    if v["result"] == "accept":
        return {"result": "accept", "version": v.get("version"),
                "model": v.get("model")}
    return {"result": "reject", "code": v["code"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mix", help="JSON lines written by bench_filter --mix-out")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="time to spend timing (default 1.5)")
    args = ap.parse_args()

    exception, objects, hardware = load_nova()

    requests = []
    with open(args.mix, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            line = json.loads(text)
            flavor = objects.Flavor(
                name=line["flavor"]["name"],
                extra_specs=line["flavor"].get("extra_specs") or {})
            image_meta = objects.ImageMeta.from_dict({
                "name": line["image"]["name"],
                "properties": line["image"].get("properties") or {}})
            requests.append((n, line, flavor, image_meta))
    if not requests:
        sys.exit("nova_vtpm_reference: no requests in '%s'" % args.mix)

    disagree = 0
    for n, line, flavor, image_meta in requests:
        nova = nova_verdict(exception, hardware, flavor, image_meta)
        ours = c_verdict(line)
        if nova != ours:
            disagree += 1
            if disagree <= 20:
                print("DISAGREE line %d (template %s): nova %s, libvtpm-filter "
                      "%s" % (n, line.get("template"), json.dumps(nova),
                              json.dumps(ours)), file=sys.stderr)
    if disagree:
        print("nova_vtpm_reference: FAILED: %d of %d verdicts differ between "
              "Nova and libvtpm-filter (legacy profile)"
              % (disagree, len(requests)), file=sys.stderr)
        return 1
    print("verdicts: all %d requests agree with Nova's get_vtpm_constraint"
          % len(requests))

    pairs = [(flavor, image_meta) for _, _, flavor, image_meta in requests]
    get = hardware.get_vtpm_constraint
    refused = (exception.FlavorImageConflict, exception.Invalid)
    clock = time.clock_gettime
    mono = time.CLOCK_MONOTONIC
    cputime = time.CLOCK_THREAD_CPUTIME_ID

    def one_pass():
        accepted = 0
        for flavor, image_meta in pairs:
            try:
                if get(flavor, image_meta) is not None:
                    accepted += 1
            except refused:
                pass
        return accepted

    dicts = [(line["flavor"]["name"], line["flavor"].get("extra_specs") or {},
              line["image"]["name"], line["image"].get("properties") or {})
             for _, line, _, _ in requests]
    Flavor = objects.Flavor
    image_from_dict = objects.ImageMeta.from_dict

    def one_pass_build():
        accepted = 0
        for fname, specs, iname, props in dicts:
            flavor = Flavor(name=fname, extra_specs=specs)
            image_meta = image_from_dict({"name": iname, "properties": props})
            try:
                if get(flavor, image_meta) is not None:
                    accepted += 1
            except refused:
                pass
        return accepted

    def phase(run, seconds):
        """Median rates per elapsed (monotonic) second and per CPU second."""
        run()  # warm-up
        rates, cpu_rates = [], []
        round_time = seconds / ROUNDS
        for _ in range(ROUNDS):
            ops = 0
            start = clock(mono)
            cpu_start = clock(cputime)
            while True:
                run()
                ops += len(pairs)
                elapsed = clock(mono) - start
                if elapsed >= round_time:
                    break
            rates.append(ops / elapsed)
            cpu_rates.append(ops / (clock(cputime) - cpu_start))
        rate = statistics.median(rates)
        return (rate, (max(rates) - min(rates)) / rate,
                statistics.median(cpu_rates))

    for key, what, run in (
            ("nova_translate_per_s",
             "requests/s, Nova get_vtpm_constraint (Zed)", one_pass),
            ("nova_build_translate_per_s",
             "requests/s, Nova build Flavor+ImageMeta + get_vtpm_constraint",
             one_pass_build)):
        rate, spread, cpu_rate = phase(run, args.seconds)
        print("%-58s %14.0f /s  (spread %5.1f%%, per CPU second %.0f)"
              % (what, rate, spread * 100.0, cpu_rate))
        print("%s=%.0f" % (key, rate))
        print("%s_cpu=%.0f" % (key, cpu_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
