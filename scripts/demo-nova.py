# SPDX-License-Identifier: Apache-2.0
"""The end of scripts/demo.sh: a real nova-scheduler choosing among the demo's hosts.

    /usr/bin/python3 scripts/demo-nova.py STATE_DIR BUILD_DIR DSN

Makes Nova's sqlite databases with nova-manage and starts Debian's
placement-api in STATE_DIR, registers every host of the demo inventory
(DSN) as a compute node whose provider has the TPM traits nova-compute
(Zed) gives it (both versions wherever swtpm is enabled), starts a
nova-scheduler service in this process (fake:/ transport) and asks it a few
requests, with VTPMFilter and without it. Placement is stopped at the end.
"""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'tests', 'scheduler', 'nova'))
sys.path.insert(0, os.path.join(TOP, 'scheduler', 'nova'))

import nova.monkey_patch  # noqa: F401,E402 (first, as nova-scheduler does)

import nova_world  # noqa: E402

REQUESTS = [
    ('TPM 2.0 CRB (flavor)', {'flavor_specs': {'hw:tpm_version': '2.0',
                                                'hw:tpm_model': 'tpm-crb'}}),
    ('TPM 1.2 (image)', {'image_props': {'hw_tpm_version': '1.2'}}),
    ('no vTPM', {'flavor_specs': {'hw:cpu_policy': 'shared'}}),
    ('flavor 2.0 vs image 1.2', {'flavor_specs': {'hw:tpm_version': '2.0'},
                                 'image_props': {'hw_tpm_version': '1.2'}}),
]


def demo_hosts(inventory):
    """(host, uuid, whether swtpm is enabled there) of every host in the inventory."""
    rows = inventory.sql("SELECT host, uuid, host <> 'sample-no-swtpm' FROM vtpm.hosts "
                         "ORDER BY host")
    return [tuple(line.split('|')) for line in rows.splitlines() if line]


def answer(out):
    if isinstance(out, Exception):
        return 'refused by Nova before any filter, %s: %s' % (
            type(out).__name__.replace('_Remote', ''), str(out).splitlines()[0][:200])
    return ', '.join(out) if out else '(none)'


def filter_lines(log, start):
    with open(log, errors='replace') as f:
        f.seek(start)
        text = f.read()
    return [line.split('] ', 1)[-1] for line in text.splitlines() if 'VTPMFilter:' in line]


def ask(log, with_vtpm):
    """{request name: (answer, VTPMFilter's log lines)} from a fresh service."""
    server = nova_world.start_scheduler(
        nova_world.FILTERS_WITH_VTPM if with_vtpm else nova_world.FILTERS_NOVA_ONLY)
    out = {}
    try:
        for name, spec_args in REQUESTS:
            start = os.path.getsize(log)
            got = nova_world.select_hosts(nova_world.request_spec(**spec_args))
            out[name] = (answer(got if isinstance(got, Exception) else sorted(got)),
                         filter_lines(log, start))
    finally:
        nova_world.stop_scheduler(server)
    return out


def show(hosts, nova_alone, with_vtpm):
    print('  VTPMFilter: profile legacy (Nova Zed: the version trait only), inventory %d hosts'
          % len(hosts))
    print('  %-28s %s' % ('compute node', 'Placement traits (what nova-compute reports)'))
    for name, _, swtpm in hosts:
        print('  %-28s %s' % (name, 'COMPUTE_SECURITY_TPM_1_2,COMPUTE_SECURITY_TPM_2_0'
                              if swtpm == 't' else '-'))
    for name, _ in REQUESTS:
        print('\n  request: %s' % name)
        print('    Nova alone:       %s' % nova_alone[name][0])
        print('    with VTPMFilter:  %s' % with_vtpm[name][0])
        for line in with_vtpm[name][1]:
            print('    log: %s' % line)


def main(state, build, dsn):
    inventory = nova_world.Inventory.existing(dsn)
    hosts = demo_hosts(inventory)
    os.makedirs(state, exist_ok=True)
    placement = nova_world.Placement(os.path.join(TOP, 'tests', 'fixtures', 'placement-api.sh'),
                                     os.path.join(state, 'placement'))
    try:
        conf = nova_world.write_nova_conf(
            state, placement, os.path.join(build, 'scheduler/filter/libvtpm-filter.so.0'),
            os.path.join(build, 'scheduler/inventory/libvtpm-inventory.so.0'), dsn,
            max_attempts=len(hosts))
        print('  placement-api: %s (noauth2); Nova databases: nova-manage (sqlite)' % placement.url)
        nova_world.load_nova_conf(conf)
        for name, host_uuid, swtpm in hosts:
            nova_world.register_compute(name, host_uuid)
            traits = {'COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0'} if swtpm == 't' else ()
            placement.add_provider(host_uuid, name, traits)
        log = os.path.join(state, 'nova-scheduler.log')
        nova_alone = ask(log, False)
        with_vtpm = ask(log, True)
        show(hosts, nova_alone, with_vtpm)
        print('\n  (every host that passed is listed: the chosen one and the alternates;'
              ' the scheduler log: %s)' % log)
    finally:
        placement.stop()
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit('usage: %s STATE_DIR BUILD_DIR DSN' % sys.argv[0])
    try:
        sys.exit(main(*sys.argv[1:]))
    except nova_world.WorldError as exc:
        sys.exit('demo-nova: %s' % exc)
