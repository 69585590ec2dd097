# SPDX-License-Identifier: Apache-2.0
# Times `vtpm-filter check --jsonl` against the same JSON lines job done with Nova's code, in one run.
"""vtpm-filter check --jsonl against Nova's pipeline, on one generated input.

Run with Debian's interpreter, which has python3-nova:

    /usr/bin/python3 bench/jsonl_reference.py --filter BUILD/scheduler/cli/vtpm-filter [--lines N]

Writes N requests (default 200,000) in vtpm-filter's input format to a
temporary file, then:

1. runs `vtpm-filter check --jsonl --profile legacy FILE > /dev/null` as a
   child process: wall time from the clock, CPU time (user + system) from
   wait4(), the whole process included (start-up, reading, writing);
2. does the same job in this process with Nova's code: json.loads of each
   line, nova.objects.Flavor and ImageMeta built from it,
   nova.virt.hardware.get_vtpm_constraint, the answer as json.dumps, written
   to /dev/null through a buffered file. Python's start-up and Nova's import
   are left out; wall and CPU (process) time of the loop are measured.

3. runs `vtpm-filter host --hosts HOSTS REQUEST` over H generated hosts
   (default 100,000) and prints its wall and CPU time (Nova has no
   counterpart: its filter is a loop over host states).

The legacy profile is the one that agrees with Nova's Debian release (Zed);
the verdicts of both runs are compared line by line (accept or the reject
code), and a difference fails the run. Prints both times and the ratio (Nova
time / vtpm-filter time), also as machine-readable lines (ratio_wall=...,
ratio_cpu=...).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

# A mix like a cloud's: most requests ask for no vTPM, some for each version
# and model, a few are refused; each carries the usual non-TPM keys too.
VERSIONS = [None] * 10 + ["2.0"] * 4 + ["1.2"] * 2 + ["", "3", "2.0 "]
MODELS = [None] * 6 + ["tpm-tis", "tpm-crb", "tpm-crb", "", "tpm-x"]
# Nova refuses an image property outside its enum while building ImageMeta:
# the image carries valid values only.
IMAGE_VERSIONS = [None] * 4 + ["2.0", "1.2"]
IMAGE_MODELS = [None] * 4 + ["tpm-tis", "tpm-crb"]
OTHER_SPECS = {"hw:cpu_policy": "dedicated", "hw:mem_page_size": "large",
               "quota:disk_read_bytes_sec": "10240000", "hw:numa_nodes": "1",
               "aggregate_instance_extra_specs:ssd": "true"}
OTHER_PROPS = {"hw_disk_bus": "virtio", "hw_vif_model": "virtio",
               "os_distro": "ubuntu", "hw_machine_type": "q35",
               "hw_firmware_type": "uefi"}


def generate(path, lines, seed=1):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for n in range(lines):
            specs = dict(rng.sample(sorted(OTHER_SPECS.items()), rng.randint(0, 4)))
            props = dict(rng.sample(sorted(OTHER_PROPS.items()), rng.randint(0, 4)))
            for where, vkey, mkey, versions, models in (
                    (specs, "hw:tpm_version", "hw:tpm_model", VERSIONS, MODELS),
                    (props, "hw_tpm_version", "hw_tpm_model", IMAGE_VERSIONS,
                     IMAGE_MODELS)):
                if rng.random() < 0.5:
                    v = rng.choice(versions)
                    if v is not None:
                        where[vkey] = v
                    m = rng.choice(models)
                    if m is not None:
                        where[mkey] = m
            doc = {"id": "req-%d" % n,
                   "flavor": {"name": "m1.%d" % (n % 7), "extra_specs": specs},
                   "image": {"name": "img-%d" % (n % 13), "properties": props}}
            f.write(json.dumps(doc, separators=(",", ":")) + "\n")


def run_filter(binary, path, out_path):
    with open(path, "rb") as fin, open(out_path, "wb") as fout:
        start = time.monotonic()
        proc = subprocess.Popen([binary, "check", "--jsonl", "--profile", "legacy"],
                                stdin=fin, stdout=fout)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 2):
        sys.exit("jsonl_reference: vtpm-filter exited %d" % proc.returncode)
    return wall, ru.ru_utime + ru.ru_stime


HOST_TRAITS = ["COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_1_2",
               "COMPUTE_SECURITY_TPM_TIS", "COMPUTE_SECURITY_TPM_CRB",
               "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER", "HW_CPU_X86_AVX2",
               "COMPUTE_VOLUME_MULTI_ATTACH", "CUSTOM_RACK_A"]


def run_hosts(binary, tmp, hosts):
    """host --hosts over @hosts generated hosts: wall and CPU time."""
    rng = random.Random(2)
    path = os.path.join(tmp, "hosts.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for n in range(hosts):
            f.write(json.dumps({"name": "compute-%06d" % n,
                                "traits": rng.sample(HOST_TRAITS, rng.randint(0, 8))},
                               separators=(",", ":")) + "\n")
    request = os.path.join(tmp, "request.json")
    with open(request, "w", encoding="utf-8") as f:
        f.write('{"flavor":{"extra_specs":{"hw:tpm_version":"2.0"}}}\n')
    with open(os.devnull, "wb") as fout:
        start = time.monotonic()
        proc = subprocess.Popen([binary, "host", "--hosts", path, request], stdout=fout)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit("jsonl_reference: vtpm-filter host exited %d" % os.waitstatus_to_exitcode(status))
    return wall, ru.ru_utime + ru.ru_stime


def load_nova():
    try:
        from nova import exception, objects
        from nova.virt import hardware
    except ImportError as e:
        sys.exit("jsonl_reference: cannot import nova (%s); run it with "
                 "/usr/bin/python3 (Debian package python3-nova)" % e)
    objects.register_all()
    return exception, objects, hardware


def nova_answer(exception, hardware, Flavor, image_from_dict, doc):
    flavor_in = doc.get("flavor") or {}
    image_in = doc.get("image") or {}
    flavor = Flavor(name=flavor_in.get("name"),
                    extra_specs=flavor_in.get("extra_specs") or {})
    image_meta = image_from_dict({"name": image_in.get("name"),
                                  "properties": image_in.get("properties") or {}})
    try:
        config = hardware.get_vtpm_constraint(flavor, image_meta)
    except (exception.FlavorImageConflict, exception.Invalid) as e:
        return {"id": doc.get("id"), "result": "reject",
                "code": type(e).__name__, "message": str(e)}
    vtpm = None if config is None else {"version": config.version,
                                        "model": config.model}
    return {"id": doc.get("id"), "result": "accept", "vtpm": vtpm}


def run_nova(path, out_path):
    exception, objects, hardware = load_nova()
    Flavor = objects.Flavor
    image_from_dict = objects.ImageMeta.from_dict
    verdicts = []
    start, cpu_start = time.monotonic(), time.process_time()
    with open(path, encoding="utf-8") as fin, \
            open(out_path, "w", encoding="utf-8") as fout:
        for text in fin:
            answer = nova_answer(exception, hardware, Flavor, image_from_dict,
                                 json.loads(text))
            fout.write(json.dumps(answer, separators=(",", ":")) + "\n")
            verdicts.append(answer["result"])
    return time.monotonic() - start, time.process_time() - cpu_start, verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", required=True, help="the vtpm-filter program")
    ap.add_argument("--lines", type=int, default=200000,
                    help="requests to generate (default 200000)")
    ap.add_argument("--hosts", type=int, default=100000,
                    help="hosts for `host --hosts` (default 100000; 0: skip)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "requests.jsonl")
        generate(path, args.lines)
        c_wall, c_cpu = run_filter(args.filter, path, os.path.join(tmp, "c.out"))
        n_wall, n_cpu, verdicts = run_nova(path, os.devnull)
        with open(os.path.join(tmp, "c.out"), encoding="utf-8") as f:
            ours = [json.loads(t)["result"] for t in f]
        h_wall, h_cpu = run_hosts(args.filter, tmp, args.hosts) if args.hosts else (0, 0)
    if ours != verdicts:
        differ = sum(1 for a, b in zip(ours, verdicts) if a != b)
        sys.exit("jsonl_reference: FAILED: %d of %d verdicts differ (or the counts: %d, %d)"
                 % (differ, len(verdicts), len(ours), len(verdicts)))
    print("requests: %d, verdicts agree" % args.lines)
    print("%-44s wall %8.3f s  CPU %8.3f s" % ("vtpm-filter check --jsonl (whole process)",
                                              c_wall, c_cpu))
    print("%-44s wall %8.3f s  CPU %8.3f s" % ("Nova: json.loads, objects, "
                                              "get_vtpm_constraint, json.dumps", n_wall, n_cpu))
    print("ratio (Nova / vtpm-filter): wall %.1fx, CPU %.1fx" % (n_wall / c_wall, n_cpu / c_cpu))
    print("ratio_wall=%.2f\nratio_cpu=%.2f" % (n_wall / c_wall, n_cpu / c_cpu))
    if args.hosts:
        print("%-44s wall %8.3f s  CPU %8.3f s" % ("vtpm-filter host --hosts, %d hosts" % args.hosts,
                                                  h_wall, h_cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
