# SPDX-License-Identifier: Apache-2.0
"""VTPMFilter in Debian's python3-nova: real RequestSpec, HostState, a private PostgreSQL inventory."""
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nova_world  # noqa: E402
import tap  # noqa: E402

FILTER_LIB, INVENTORY_LIB, INVENTORY_TOOL = sys.argv[1:4]
SOURCE_ROOT = os.environ['VTPM_SOURCE_ROOT']
PG_CLUSTER = os.path.join(SOURCE_ROOT, 'scripts', 'pg-cluster.sh')

try:
    from nova import config as nova_config
    from nova import context as nova_context
    from nova import exception
    from nova import objects
    from nova.scheduler import filters as nova_filters
    from nova.scheduler import host_manager
    from nova.virt import hardware
except ImportError as exc:
    tap.skip('needs python3-nova for /usr/bin/python3: %s' % exc)
if not shutil.which('psql') or not os.path.exists(os.environ.get(
        'PGBIN', '/usr/lib/postgresql/15/bin') + '/postgres'):
    tap.skip('needs PostgreSQL 15 and psql (Debian packages postgresql-15, postgresql-client)')

objects.register_all()

from oslo_config import cfg  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

from vtpm_placement import bindings  # noqa: E402
from vtpm_placement import nova_filter  # noqa: E402

CONF = cfg.CONF

# The programs this test runs (PostgreSQL, psql, vtpm-inventory) get neither
# the sanitizers' preload meant for this interpreter nor its options.
CHILD_ENV = nova_world.child_env()
CONF([], project='nova', default_config_files=[])

TPM_1_2, TPM_2_0 = 1 << 0, 1 << 1
TRAIT_BITS = dict((name, 1 << i) for i, name in enumerate(bindings.TRAIT_NAMES))


class Cluster(nova_world.Inventory):
    """A PostgreSQL cluster of scripts/pg-cluster.sh with a migrated inventory database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='vtpm-pgtest-')
        out = subprocess.run([PG_CLUSTER, 'start', self.dir], env=CHILD_ENV, check=True, timeout=120,
                             stdout=subprocess.PIPE, text=True).stdout
        super().__init__(out.strip().splitlines()[0], INVENTORY_TOOL,
                         os.path.join(SOURCE_ROOT, 'sql', 'migrations'))

    def destroy(self):
        subprocess.run([PG_CLUSTER, 'stop', self.dir], stdout=subprocess.DEVNULL, env=CHILD_ENV)
        shutil.rmtree(self.dir, ignore_errors=True)


class Existing:
    """The cluster of the parent test (a child process that imports this file)."""

    def __init__(self, dsn):
        self.dsn = dsn

    def destroy(self):
        pass


try:
    pg = Existing(os.environ['VTPM_TEST_DSN']) if 'VTPM_TEST_DSN' in os.environ else Cluster()
except (subprocess.CalledProcessError, OSError, nova_world.WorldError) as exc:
    tap.skip('cannot start PostgreSQL with scripts/pg-cluster.sh: %s' % exc)
MAIN_PID = os.getpid()


def _stop_cluster():
    if os.getpid() == MAIN_PID:
        pg.destroy()


import atexit  # noqa: E402
atexit.register(_stop_cluster)

# One host per combination of the two version traits, and the model traits
# (which the legacy profile does not ask for) on all of them.
MODELS = TRAIT_BITS['COMPUTE_SECURITY_TPM_TIS'] | TRAIT_BITS['COMPUTE_SECURITY_TPM_CRB']
HOSTS = {'h-none': 0, 'h-12': TPM_1_2, 'h-20': TPM_2_0, 'h-both': TPM_1_2 | TPM_2_0}
HOST_UUIDS = dict((name, str(uuid.uuid5(uuid.NAMESPACE_DNS, name + '.test'))) for name in HOSTS)
for _name, _bits in HOSTS.items() if isinstance(pg, Cluster) else ():
    pg.publish(_name, HOST_UUIDS[_name], _bits | MODELS)


CTXT = nova_context.RequestContext(user_id='user', project_id='project')


def host_state(name, host_uuid):
    """A HostState updated from a ComputeNode whose uuid is @host_uuid and from
    its nova-compute Service, up, as the scheduler's host manager does; None:
    one not updated yet, without a uuid."""
    hs = host_manager.HostState(name, name, str(uuid.UUID(int=1)))
    if host_uuid is None:
        return hs
    now = timeutils.utcnow()
    service = objects.Service(host=name, binary='nova-compute', topic='compute', disabled=False,
                              forced_down=False, created_at=now, updated_at=now,
                              last_seen_up=now)
    hs.update(service=service, compute=objects.ComputeNode(
        uuid=host_uuid, host=name, hypervisor_hostname=name, vcpus=8, memory_mb=8192,
        local_gb=100, vcpus_used=0, memory_mb_used=0, local_gb_used=0, free_ram_mb=8192,
        free_disk_gb=100, disk_available_least=100, running_vms=0, hypervisor_type='QEMU',
        hypervisor_version=7002000, cpu_info='{}', current_workload=0, numa_topology=None,
        pci_device_pools=objects.PciDevicePoolList(), stats={}, metrics='[]',
        supported_hv_specs=[], cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0, host_ip='10.0.0.1', updated_at=None))
    assert hs.uuid == host_uuid
    return hs


def all_hosts():
    return [host_state(name, HOST_UUIDS[name]) for name in HOSTS]


def spec(flavor_specs=None, image_props=None, rebuild=False):
    flavor = objects.Flavor(name='m1.test', flavorid='42', memory_mb=512, vcpus=1,
                            root_gb=1, ephemeral_gb=0, swap=0,
                            extra_specs=dict(flavor_specs or {}))
    image = objects.ImageMeta.from_dict({'name': 'img', 'properties': dict(image_props or {})})
    # What the compute API's rebuild adds to the request spec.
    props = {'scheduler_hints': {'_nova_check_type': ['rebuild']}} if rebuild else {}
    return objects.RequestSpec.from_components(
        CTXT, str(uuid.uuid4()), image, flavor, None, None, props, None, None)


def configure(**overrides):
    for opt in nova_filter.opts:
        CONF.clear_override(opt.name, group='vtpm')
    CONF.set_override('filter_library', FILTER_LIB, group='vtpm')
    CONF.set_override('inventory_library', INVENTORY_LIB, group='vtpm')
    CONF.set_override('dsn', pg.dsn, group='vtpm')
    for name, value in overrides.items():
        CONF.set_override(name, value, group='vtpm')


def nova_filters_pass(flt, hosts, spec_obj):
    """The names of the hosts Nova's own filter handler keeps with @flt."""
    out = nova_filters.HostFilterHandler().get_filtered_objects([flt], hosts, spec_obj)
    return sorted(h.host for h in out or [])


def nova_decision(spec_obj):
    """What Nova Zed says of the request: ('reject', None) or ('accept', version or None)."""
    try:
        cfg_ = hardware.get_vtpm_constraint(spec_obj.flavor, spec_obj.image)
    except (exception.Invalid, exception.FlavorImageConflict):
        return 'reject', None
    return 'accept', cfg_.version if cfg_ else None


def expected_hosts(verdict, version):
    """The hosts Nova's answer allows: none for a refusal, all for no vTPM,
    otherwise those with the version trait."""
    if verdict == 'reject':
        return []
    if version is None:
        return sorted(HOSTS)
    need = {'1.2': TPM_1_2, '2.0': TPM_2_0}[version]
    return sorted(h for h, bits in HOSTS.items() if bits & need)


ABSENT = object()
FLAVOR_VERSIONS = [ABSENT, '1.2', '2.0', '', '2', 'bogus']
FLAVOR_MODELS = [ABSENT, 'tpm-tis', 'tpm-crb', '', 'TPM-CRB']
# ImageMetaProps refuses other values itself (TPMVersionField, TPMModelField).
IMAGE_VERSIONS = [ABSENT, '1.2', '2.0']
IMAGE_MODELS = [ABSENT, 'tpm-tis', 'tpm-crb']


def combinations():
    for fv in FLAVOR_VERSIONS:
        for fm in FLAVOR_MODELS:
            for iv in IMAGE_VERSIONS:
                for im in IMAGE_MODELS:
                    specs = {'hw:tpm_version': fv, 'hw:tpm_model': fm}
                    props = {'hw_tpm_version': iv, 'hw_tpm_model': im}
                    yield (dict((k, v) for k, v in specs.items() if v is not ABSENT),
                           dict((k, v) for k, v in props.items() if v is not ABSENT))


_filters = {}


def legacy_filter():
    if 'legacy' not in _filters:
        configure(profile='legacy')
        _filters['legacy'] = nova_filter.VTPMFilter()
    return _filters['legacy']


@tap.case
def nova_loads_the_class_path_next_to_its_own_filters():
    # What HostManager does with [filter_scheduler] available_filters and
    # enabled_filters: import every class, then pick the enabled by name.
    handler = nova_filters.HostFilterHandler()
    classes = handler.get_matching_classes(['nova.scheduler.filters.all_filters',
                                            'vtpm_placement.nova_filter.VTPMFilter'])
    by_name = dict((c.__name__, c) for c in classes)
    assert by_name['VTPMFilter'] is nova_filter.VTPMFilter
    assert 'ComputeFilter' in by_name and 'ImagePropertiesFilter' in by_name
    configure(profile='legacy')
    enabled = [by_name[n]() for n in ('ImagePropertiesFilter', 'VTPMFilter')]
    hosts = all_hosts()
    out = handler.get_filtered_objects(enabled, hosts, spec({'hw:tpm_version': '1.2'}))
    assert sorted(h.host for h in out) == ['h-12', 'h-both'], out


@tap.case
def legacy_profile_agrees_with_get_vtpm_constraint_through_filter_all():
    flt = legacy_filter()
    seen = {}
    for specs, props in combinations():
        spec_obj = spec(specs, props)
        verdict, version = nova_decision(spec_obj)
        seen[verdict, version] = seen.get((verdict, version), 0) + 1
        expect = expected_hosts(verdict, version)
        got = nova_filters_pass(flt, all_hosts(), spec_obj)
        assert got == expect, 'flavor %r image %r: Nova %s %s, filter passes %r' % (
            specs, props, verdict, version, got)
    assert sum(seen.values()) == 6 * 5 * 3 * 3, seen
    # Every kind of answer was met: refusals, no vTPM, each version.
    assert set(seen) == {('reject', None), ('accept', None), ('accept', '1.2'),
                         ('accept', '2.0')}, seen


@tap.case
def legacy_profile_agrees_with_get_vtpm_constraint_through_host_manager():
    # A real HostManager, its filters chosen by nova.conf's available_filters
    # and enabled_filters, on an API database made by nova-manage (the host
    # manager reads the cells and aggregates from it when it starts).
    folder = tempfile.mkdtemp(prefix='vtpm-novaapi-')
    try:
        conf = nova_world.write_nova_conf(folder, 'http://127.0.0.1:9', FILTER_LIB,
                                          INVENTORY_LIB, pg.dsn, api_only=True)
        # As nova-scheduler parses it: the database connections are set up too.
        CONF.clear()
        nova_config.parse_args(['nova-scheduler', '--config-file', conf],
                               default_config_files=[], init_rpc=False)
        configure(profile='legacy')
        manager = host_manager.HostManager()
        names = [type(f).__name__ for f in manager.enabled_filters]
        assert names == nova_world.FILTERS_WITH_VTPM, names
        checked = 0
        for specs, props in combinations():
            spec_obj = spec(specs, props)
            verdict, version = nova_decision(spec_obj)
            expect = expected_hosts(verdict, version)
            got = sorted(h.host for h in manager.get_filtered_hosts(all_hosts(), spec_obj))
            assert got == expect, 'flavor %r image %r: Nova %s %s, host manager keeps %r' % (
                specs, props, verdict, version, got)
            checked += 1
        assert checked == 6 * 5 * 3 * 3, checked
    finally:
        CONF.clear()
        CONF([], project='nova', default_config_files=[])
        shutil.rmtree(folder, ignore_errors=True)


@tap.case
def a_plain_server_rebuilt_to_a_vtpm_image_is_checked_on_its_host():
    flt = legacy_filter()
    rebuild = spec({}, {'hw_tpm_version': '2.0'}, rebuild=True)
    assert nova_filters_pass(flt, [host_state('h-12', HOST_UUIDS['h-12'])], rebuild) == []
    assert nova_filters_pass(flt, [host_state('h-20', HOST_UUIDS['h-20'])], rebuild) == ['h-20']
    # Nova's per-host entry point gives the same answers.
    assert not flt._filter_one(host_state('h-12', HOST_UUIDS['h-12']), rebuild)
    assert flt._filter_one(host_state('h-20', HOST_UUIDS['h-20']), rebuild)


@tap.case
def a_trait_change_in_the_database_is_seen_by_the_next_call():
    flt = legacy_filter()
    spec_obj = spec({'hw:tpm_version': '1.2'})
    name = 'h-changing'
    host_uuid = str(uuid.uuid4())
    hosts = [host_state(name, host_uuid)]
    # A new host, one that loses its trait (the unknown-host policy would
    # fail it too: the next step tells them apart), one that gets it back.
    publish_seen(flt, name, host_uuid, TPM_1_2)
    assert nova_filters_pass(flt, hosts, spec_obj) == [name]
    publish_seen(flt, name, host_uuid, TPM_2_0)
    assert nova_filters_pass(flt, hosts, spec_obj) == []
    publish_seen(flt, name, host_uuid, TPM_1_2 | TPM_2_0)
    assert nova_filters_pass(flt, hosts, spec_obj) == [name]


def publish_seen(flt, *args):
    """Publishes, then waits until the notification has reached @flt's
    inventory connection (5 s at most): what the scheduler's next request
    finds. Notifications already there are applied first, so that an older
    one does not end the wait."""
    flt._inventory.refresh(0)
    pg.publish(*args)
    fd = flt._inventory.fd()
    readable, _, _ = select.select([fd], [], [], 5)
    assert readable, 'no notification within 5 s'


def unknown_hosts():
    return [host_state('h-unknown', str(uuid.uuid4())), host_state('h-no-uuid', None)]


@tap.case
def unknown_hosts_fail_vtpm_requests_and_pass_others_by_default():
    flt = legacy_filter()
    assert nova_filters_pass(flt, unknown_hosts(), spec({'hw:tpm_version': '2.0'})) == []
    assert nova_filters_pass(flt, unknown_hosts(), spec({})) == ['h-no-uuid', 'h-unknown']


@tap.case
def a_host_without_uuid_never_takes_the_traits_of_a_nil_uuid_provider():
    # Hosts without a usable uuid travel to the library as 16 zero bytes;
    # a provider published under the nil uuid must not lend them its traits.
    flt = legacy_filter()
    publish_seen(flt, 'h-nil', str(uuid.UUID(int=0)), TPM_1_2 | TPM_2_0)
    hs_bad = host_state('h-bad-uuid', None)
    hs_bad.uuid = 'not-a-uuid'
    hosts = all_hosts() + unknown_hosts() + [hs_bad]
    assert nova_filters_pass(flt, hosts, spec({'hw:tpm_version': '2.0'})) == ['h-20', 'h-both']
    # Nova may hand over any iterable, a generator too.
    got = flt.filter_all((h for h in all_hosts()), spec({'hw:tpm_version': '1.2'}))
    assert sorted(h.host for h in got) == ['h-12', 'h-both']


@tap.case
def unknown_host_policy_pass_lets_them_through():
    configure(unknown_host='pass')
    flt = nova_filter.VTPMFilter()
    assert nova_filters_pass(flt, unknown_hosts(), spec({'hw:tpm_version': '2.0'})) == [
        'h-no-uuid', 'h-unknown']
    assert nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_version': '2.0'})) == [
        'h-20', 'h-both']


@tap.case
def without_a_dsn_invalid_requests_are_refused_and_hosts_follow_the_policy():
    configure(dsn=None)
    flt = nova_filter.VTPMFilter()
    assert nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_model': 'tpm-crb',
                                                      'hw:tpm_version': '1.2'})) == []
    assert nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_version': '2.0'})) == []
    assert nova_filters_pass(flt, all_hosts(), spec({})) == sorted(HOSTS)


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


@tap.case
def refusals_are_logged_with_code_and_reason_at_the_configured_level():
    configure(refusal_log_level='warning')
    flt = nova_filter.VTPMFilter()
    cap = Captured()
    nova_filter.LOG.addHandler(cap)
    nova_filter.LOG.setLevel(logging.DEBUG)
    try:
        nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_version': '2.0'},
                                                 {'hw_tpm_version': '1.2'}))
        nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_version': '1.2'}))
    finally:
        nova_filter.LOG.removeHandler(cap)
    warnings = [m for lvl, m in cap.lines if lvl == logging.WARNING]
    assert any('flavor_image_conflict' in m and 'hw:tpm_version' in m for m in warnings), warnings
    assert any('missing_traits' in m and 'COMPUTE_SECURITY_TPM_1_2' in m and 'h-20' in m
               for m in warnings), warnings


@tap.case
def the_filter_works_in_a_forked_child_and_the_parent_keeps_its_connection():
    flt = legacy_filter()
    spec_obj = spec({'hw:tpm_version': '2.0'})
    assert nova_filters_pass(flt, all_hosts(), spec_obj) == ['h-20', 'h-both']
    parent_fd = flt._inventory.fd()
    pid = os.fork()
    if pid == 0:
        ok = (nova_filters_pass(flt, all_hosts(), spec_obj) == ['h-20', 'h-both']
              and flt._inventory is not None and flt._inventory.fd() != parent_fd)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # The parent's session is still there: it sees a change made now.
    publish_seen(flt, 'h-12', HOST_UUIDS['h-12'], TPM_1_2 | TPM_2_0 | MODELS)
    assert nova_filters_pass(flt, all_hosts(), spec_obj) == ['h-12', 'h-20', 'h-both']
    pg.publish('h-12', HOST_UUIDS['h-12'], TPM_1_2 | MODELS)


@tap.case
def current_profile_also_needs_the_model_and_secret_security_traits():
    configure(profile='current')
    flt = nova_filter.VTPMFilter()
    full = TPM_2_0 | TRAIT_BITS['COMPUTE_SECURITY_TPM_CRB'] | TRAIT_BITS[
        'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST']
    name, host_uuid = 'h-current', str(uuid.uuid4())
    publish_seen(flt, name, host_uuid, full)
    hosts = all_hosts() + [host_state(name, host_uuid)]
    crb_host = spec({'hw:tpm_version': '2.0', 'hw:tpm_model': 'tpm-crb',
                     'hw:tpm_secret_security': 'host'})
    assert nova_filters_pass(flt, hosts, crb_host) == [name]
    # "user" is the default secret security, which no host here offers.
    assert nova_filters_pass(flt, hosts, spec({'hw:tpm_version': '2.0'})) == []


@tap.case
def strict_refuses_a_model_without_a_version_that_nova_ignores():
    configure(strict=True)
    flt = nova_filter.VTPMFilter()
    spec_obj = spec({'hw:tpm_model': 'tpm-crb'})
    assert nova_decision(spec_obj) == ('accept', None)
    assert nova_filters_pass(flt, all_hosts(), spec_obj) == []
    assert nova_filters_pass(legacy_filter(), all_hosts(), spec_obj) == sorted(HOSTS)


@tap.case
def os_threads_share_the_filter():
    flt = legacy_filter()
    errors = []

    def one(version, want):
        try:
            for _ in range(20):
                got = nova_filters_pass(flt, all_hosts(), spec({'hw:tpm_version': version}))
                assert got == want, (version, got)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(v, w)) for v, w in
               [('1.2', ['h-12', 'h-both']), ('2.0', ['h-20', 'h-both'])] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


GREEN_CHILD = r"""
import eventlet
eventlet.monkey_patch()
import sys
sys.argv = sys.argv[:1] + %r
sys.path.insert(0, %r)
import test_nova_filter as t
from vtpm_placement import nova_filter
assert nova_filter._eventlet_patched()
t.configure(dsn=%r)
flt = nova_filter.VTPMFilter()
ticks = []
def ticker():
    for _ in range(50):
        ticks.append(1)
        eventlet.sleep(0.001)
def one(i):
    version = ('1.2', '2.0')[i %% 2]
    want = {'1.2': ['h-12', 'h-both'], '2.0': ['h-20', 'h-both']}[version]
    for _ in range(5):
        got = t.nova_filters_pass(flt, t.all_hosts(), t.spec({'hw:tpm_version': version}))
        assert got == want, (version, got)
    return True
pool = eventlet.GreenPool()
tick = eventlet.spawn(ticker)
assert all(pool.imap(one, range(20)))
tick.wait()
print('green ok', len(ticks))
"""


@tap.case
def greenthreads_share_the_filter_under_eventlet():
    # A child that monkey-patches first, as nova-scheduler does; it imports
    # this file as a module with the cluster already there (VTPM_TEST_DSN).
    here = os.path.dirname(os.path.abspath(__file__))
    code = GREEN_CHILD % (sys.argv[1:4], here, pg.dsn)
    env = dict(os.environ, VTPM_TEST_DSN=pg.dsn)
    out = subprocess.run([sys.executable, '-c', code], env=env, timeout=120,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert out.returncode == 0 and 'green ok 50' in out.stdout, out.stdout


def expect_construction_error(kind, *words, **overrides):
    configure(**overrides)
    tap.raises(kind, nova_filter.VTPMFilter, *words)


@tap.case
def a_wrong_filter_library_path_fails_at_construction():
    expect_construction_error(bindings.LibraryError, '/nonexistent/libvtpm-filter.so.0',
                              filter_library='/nonexistent/libvtpm-filter.so.0')


@tap.case
def a_wrong_inventory_library_path_fails_at_construction():
    expect_construction_error(bindings.LibraryError, FILTER_LIB, 'has no symbol',
                              inventory_library=FILTER_LIB)


@tap.case
def a_database_without_the_inventory_fails_at_construction():
    expect_construction_error(bindings.VTPMError, 'vtpm-inventory migrate', dsn=pg.admin_dsn)


if __name__ == '__main__':
    tap.run()
