# SPDX-License-Identifier: Apache-2.0
# Per-host cost of VTPMFilter.filter_all next to Nova's ComputeFilter and ImagePropertiesFilter.
"""VTPMFilter in nova-scheduler's hot loop, next to two of Nova's own filters.

Run with Debian's interpreter (python3-nova), on an inventory that holds the
hosts (bench/run-nova-filter-bench.sh publishes them and runs this):

    /usr/bin/python3 bench/nova_filter_bench.py --filter-lib LIB --inventory-lib LIB \
        --dsn DSN [--hosts 1000,10000] [--seconds S]

Hosts are real HostState objects updated from ComputeNode and Service
objects, as the host manager makes them; host i has the uuid
uuid5(NAMESPACE_DNS, 'bench-<i>') and, in the inventory, the traits of
pattern(i) (below). The request is a real RequestSpec (from_components) whose
flavor asks TPM 2.0 and whose image names an architecture, a hypervisor type
and a VM mode, so every filter does its full work; VTPMFilter's info line
about failing hosts is built as in nova-scheduler (then dropped). Each
filter's filter_all is consumed whole (Nova's is a generator), repeated for S seconds, five
rounds; the median round is printed as wall and CPU (process) nanoseconds per
host, with the ratios to VTPMFilter. The hosts VTPMFilter passes are checked
against the pattern.
"""
import argparse
import logging
import statistics
import sys
import time
import uuid

ROUNDS = 5
T12, T20, TIS, CRB = 1, 2, 4, 8


def pattern(i):
    """Trait bits of host i: a quarter each with none, 1.2, 2.0, both (and both models)."""
    return (0, T12, T20, T12 | T20)[i % 4] | (TIS | CRB if i % 4 else 0)


def host_uuid(i):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, 'bench-%d' % i))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--filter-lib', required=True)
    ap.add_argument('--inventory-lib', required=True)
    ap.add_argument('--dsn', required=True)
    ap.add_argument('--hosts', default='1000,10000')
    ap.add_argument('--seconds', type=float, default=1.0)
    return ap.parse_args()


def load_nova(args):
    try:
        from oslo_config import cfg
        from nova import objects
    except ImportError as exc:
        sys.exit('nova_filter_bench: cannot import nova (%s); run it with /usr/bin/python3 '
                 'after scripts/setup.sh (Debian package python3-nova)' % exc)
    objects.register_all()
    from vtpm_placement import nova_filter  # noqa: F401 (registers [vtpm])
    conf = cfg.CONF
    conf([], project='nova', default_config_files=[])
    for name, value in (('filter_library', args.filter_lib),
                        ('inventory_library', args.inventory_lib),
                        ('dsn', args.dsn), ('profile', 'legacy')):
        conf.set_override(name, value, group='vtpm')
    # As in nova-scheduler, info lines are logged: the filter's line for
    # failing hosts is built (and dropped here, not written).
    log = logging.getLogger('vtpm_placement')
    log.setLevel(logging.INFO)
    log.addHandler(logging.NullHandler())
    log.propagate = False


def host_states(n):
    from oslo_utils import timeutils
    from nova import objects
    from nova.scheduler import host_manager
    now = timeutils.utcnow()
    out = []
    for i in range(n):
        name = 'bench-%d' % i
        hs = host_manager.HostState(name, name, str(uuid.UUID(int=1)))
        service = objects.Service(host=name, binary='nova-compute', topic='compute',
                                  disabled=False, forced_down=False, created_at=now,
                                  updated_at=now, last_seen_up=now)
        hs.update(service=service, compute=objects.ComputeNode(
            uuid=host_uuid(i), host=name, hypervisor_hostname=name, vcpus=64,
            memory_mb=262144, local_gb=4000, vcpus_used=0, memory_mb_used=0, local_gb_used=0,
            free_ram_mb=262144, free_disk_gb=4000, disk_available_least=4000, running_vms=0,
            hypervisor_type='QEMU', hypervisor_version=7002000, cpu_info='{}',
            current_workload=0, numa_topology=None, pci_device_pools=objects.PciDevicePoolList(),
            stats={}, metrics='[]',
            supported_hv_specs=[objects.HVSpec(arch='x86_64', hv_type='kvm', vm_mode='hvm')],
            cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
            host_ip='10.0.0.1', updated_at=now))
        out.append(hs)
    return out


def request():
    from nova import context as nova_context
    from nova import objects
    ctxt = nova_context.RequestContext(user_id='u', project_id='p')
    flavor = objects.Flavor(name='vtpm', flavorid='1', memory_mb=512, vcpus=1, root_gb=1,
                            ephemeral_gb=0, swap=0, extra_specs={'hw:tpm_version': '2.0'})
    image = objects.ImageMeta.from_dict({'name': 'img', 'properties': {
        'hw_architecture': 'x86_64', 'img_hv_type': 'kvm', 'hw_vm_mode': 'hvm'}})
    return objects.RequestSpec.from_components(ctxt, str(uuid.uuid4()), image, flavor,
                                               None, None, {}, None, None)


def time_filter(flt, hosts, spec, seconds):
    """(wall ns per host, CPU ns per host, hosts passed): the median of ROUNDS rounds."""
    walls, cpus = [], []
    passed = len(list(flt.filter_all(hosts, spec)))   # warm: caches, first refresh
    for _ in range(ROUNDS):
        reps = 0
        w0, c0 = time.perf_counter(), time.process_time()
        while True:
            list(flt.filter_all(hosts, spec))
            reps += 1
            if time.perf_counter() - w0 >= seconds / ROUNDS:
                break
        walls.append((time.perf_counter() - w0) / (reps * len(hosts)) * 1e9)
        cpus.append((time.process_time() - c0) / (reps * len(hosts)) * 1e9)
    return statistics.median(walls), statistics.median(cpus), passed


def main():
    args = parse_args()
    load_nova(args)
    from nova.scheduler.filters import compute_filter, image_props_filter
    from vtpm_placement import nova_filter
    filters = [('VTPMFilter', nova_filter.VTPMFilter()),
               ('ComputeFilter', compute_filter.ComputeFilter()),
               ('ImagePropertiesFilter', image_props_filter.ImagePropertiesFilter())]
    spec = request()
    ok = True
    print('%-8s %-22s %12s %12s %8s %10s' % ('hosts', 'filter', 'wall ns/host', 'CPU ns/host',
                                             'passed', 'x VTPM CPU'))
    for n in [int(x) for x in args.hosts.split(',')]:
        hosts = host_states(n)
        want = sum(1 for i in range(n) if pattern(i) & T20)
        base = None
        for name, flt in filters:
            wall, cpu, passed = time_filter(flt, hosts, spec, args.seconds)
            base = base or cpu
            print('%-8d %-22s %12.0f %12.0f %8d %9.2fx' % (n, name, wall, cpu, passed, cpu / base))
            print('nova_filter_bench hosts=%d filter=%s wall_ns_per_host=%.1f cpu_ns_per_host=%.1f '
                  'passed=%d' % (n, name, wall, cpu, passed))
            if name == 'VTPMFilter' and passed != want:
                print('nova_filter_bench: VTPMFilter passed %d hosts, the inventory has %d with '
                      'TPM 2.0' % (passed, want), file=sys.stderr)
                ok = False
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
