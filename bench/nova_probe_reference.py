# SPDX-License-Identifier: Apache-2.0
# Times Nova's own vTPM start-up checks (libvirt driver), the counterpart of `vtpm-reporter probe`.
"""Reference for bench/bench_probe.c: what nova-compute spends on vTPM at start-up.

Run with Debian's interpreter, which has python3-nova:

    /usr/bin/python3 bench/nova_probe_reference.py --once | --loop

Nova (Debian's Zed) checks vTPM once, in LibvirtDriver.init_host():
_check_vtpm_support() looks at [libvirt] swtpm_enabled and virt_type, runs
shutil.which() for swtpm_setup and swtpm, and getpwnam/getgrnam for the
swtpm user and group; the TPM traits then come from _get_tpm_traits(), which
returns swtpm_enabled for both versions. No libvirt call, no swtpm run.

--once: import the driver module and run both once, as a one-shot process
        would (bench_probe times the whole process).
--loop: run both many times in this process and print the median per call,
        as `nova_checks_us=<microseconds>`.
"""

import argparse
import statistics
import sys
import time


def load():
    try:
        import nova.conf
        from nova.virt.libvirt import driver
    except ImportError as e:
        sys.exit("nova_probe_reference: cannot import nova (%s); run it with "
                 "/usr/bin/python3 after scripts/setup.sh (Debian package "
                 "python3-nova)" % e)
    conf = nova.conf.CONF
    conf([], project='nova', default_config_files=[])
    conf.set_override('swtpm_enabled', True, group='libvirt')
    conf.set_override('virt_type', 'qemu', group='libvirt')
    conf.set_override('swtpm_user', 'tss', group='libvirt')
    conf.set_override('swtpm_group', 'tss', group='libvirt')
    return driver.LibvirtDriver


def checks(drv_class):
    # Neither method uses the driver's state: call them on a bare instance
    # instead of connecting a whole driver to libvirt.
    drv = drv_class.__new__(drv_class)
    drv._check_vtpm_support()
    return drv._get_tpm_traits()


def main():
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--once', action='store_true')
    g.add_argument('--loop', action='store_true')
    p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--calls', type=int, default=2000)
    args = p.parse_args()

    drv_class = load()
    traits = checks(drv_class)
    if not all(traits.values()):
        sys.exit("nova_probe_reference: unexpected traits %r" % traits)
    if args.once:
        return
    per_call = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.calls):
            checks(drv_class)
        per_call.append((time.perf_counter() - t0) / args.calls)
    us = statistics.median(per_call) * 1e6
    print("%-44s %8.1f us per call (median of %d rounds of %d)"
          % ("Nova: vTPM checks in a running process", us, args.rounds, args.calls))
    print("nova_checks_us=%.2f" % us)


if __name__ == '__main__':
    main()
