# SPDX-License-Identifier: Apache-2.0
"""A real nova-scheduler service with VTPMFilter, end to end.

Nova's own nova-manage creates sqlite API and cell databases, Debian's
placement-api runs on 127.0.0.1 (noauth2), the inventory is a PostgreSQL
database migrated by the build's vtpm-inventory. Compute nodes are registered
as nova-compute would (service and compute node records, resource providers
with inventories and the TPM traits Nova Zed's libvirt driver asserts from
swtpm_enabled alone), and the scheduler service (nova.service.Service, binary
nova-scheduler) is started in this process on the fake:/ transport and asked
through Nova's scheduler RPC API, once with VTPMFilter and once without it.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

try:
    # First, as nova-scheduler does (its nova.cmd package does it on import):
    # eventlet's monkey-patching, under which VTPMFilter's database calls
    # leave the hub.
    import nova.monkey_patch  # noqa: F401,E402
    from nova import exception  # noqa: E402
except ImportError as exc:
    tap.skip('needs python3-nova for /usr/bin/python3: %s' % exc)

import nova_world  # noqa: E402

FILTER_LIB, INVENTORY_LIB, INVENTORY_TOOL = sys.argv[1:4]
SOURCE_ROOT = os.environ['VTPM_SOURCE_ROOT']
PLACEMENT_FIXTURE = os.path.join(SOURCE_ROOT, 'tests', 'fixtures', 'placement-api.sh')
PG_CLUSTER = os.path.join(SOURCE_ROOT, 'scripts', 'pg-cluster.sh')
MIGRATIONS = os.path.join(SOURCE_ROOT, 'sql', 'migrations')

for _need in ('/usr/bin/placement-api', '/usr/bin/uwsgi', '/usr/bin/psql',
              '/usr/lib/postgresql/15/bin/postgres'):
    if not os.path.exists(_need):
        tap.skip("needs '%s' (scripts/setup.sh installs it)" % _need)

T12, T20 = 'COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0'
TIS, CRB = 'COMPUTE_SECURITY_TPM_TIS', 'COMPUTE_SECURITY_TPM_CRB'
# name: (the traits nova-compute (Zed) puts in Placement: both versions
# wherever swtpm is enabled, what the reporter found: None = not in the
# inventory).
HOSTS = {
    'cmp-full': ({T12, T20}, {T12, T20, TIS, CRB}),
    'cmp-20': ({T12, T20}, {T20, TIS, CRB}),        # its swtpm lacks TPM 1.2
    'cmp-broken': ({T12, T20}, set()),              # swtpm cannot run at all
    'cmp-unknown': ({T12, T20}, None),              # no reporter runs there
    'cmp-plain': (set(), set()),                    # swtpm not enabled
}
UUIDS = dict((n, str(uuid.uuid5(uuid.NAMESPACE_DNS, n + '.e2e.test'))) for n in HOSTS)
ALL = sorted(HOSTS)
IN_PLACEMENT_12 = sorted(n for n, (p, _) in HOSTS.items() if T12 in p)


class World:
    """Everything the scheduler talks to, in one temporary folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='vtpm-nova-e2e-')
        # PostgreSQL runs as its own user (the tests run as root) and enters it.
        os.chmod(self.dir, 0o755)
        self.placement = None
        self.inventory = None
        self.conf = None
        self.log = os.path.join(self.dir, 'nova-scheduler.log')

    def start(self):
        self.placement = nova_world.Placement(PLACEMENT_FIXTURE, os.path.join(self.dir, 'placement'))
        self.conf = nova_world.write_nova_conf(self.dir, self.placement, FILTER_LIB,
                                               INVENTORY_LIB, self.make_inventory,
                                               max_attempts=len(HOSTS))

    def make_inventory(self):
        """The inventory, in the PostgreSQL cluster the Placement fixture started."""
        self.inventory = nova_world.Inventory(self.placement.cluster_dsn(PG_CLUSTER),
                                              INVENTORY_TOOL, MIGRATIONS)
        return self.inventory.dsn

    def register(self):
        nova_world.load_nova_conf(self.conf)
        for name, (placement_traits, found) in HOSTS.items():
            nova_world.register_compute(name, UUIDS[name])
            self.placement.add_provider(UUIDS[name], name, placement_traits)
            if found is not None:
                self.inventory.publish(name, UUIDS[name], nova_world.trait_bits(found))

    def destroy(self):
        if self.placement is not None:
            self.placement.stop()
        if os.environ.get('VTPM_TEST_KEEP') == '1':
            print('# kept: %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


import atexit  # noqa: E402

world = World()
atexit.register(world.destroy)
try:
    world.start()
    world.register()
except nova_world.WorldError as exc:
    print('Bail out! %s' % exc)
    sys.exit(1)

SERVICES = {}


def service(with_vtpm):
    """The running scheduler service of each kind; one at a time listens."""
    kind = 'vtpm' if with_vtpm else 'nova'
    if kind not in SERVICES:
        for other in list(SERVICES):
            nova_world.stop_scheduler(SERVICES.pop(other))
        SERVICES[kind] = nova_world.start_scheduler(
            nova_world.FILTERS_WITH_VTPM if with_vtpm else nova_world.FILTERS_NOVA_ONLY)
    return SERVICES[kind]


def chosen(with_vtpm, spec):
    """Sorted names of the hosts select_destinations offers (chosen and
    alternates), or the exception it raised."""
    service(with_vtpm)
    out = nova_world.select_hosts(spec)
    return out if isinstance(out, Exception) else sorted(out)


def both(spec_args, with_filter, nova_alone):
    """Asserts what the scheduler answers with VTPMFilter and without it."""
    got_nova = chosen(False, nova_world.request_spec(**spec_args))
    got_vtpm = chosen(True, nova_world.request_spec(**spec_args))
    for got, want, what in ((got_vtpm, with_filter, 'with VTPMFilter'),
                            (got_nova, nova_alone, 'Nova alone')):
        if isinstance(want, type):
            assert isinstance(got, want), '%s: %r, wanted %s' % (what, got, want.__name__)
        else:
            assert got == want, '%s: %r, wanted %r' % (what, got, want)


def log_lines(word):
    with open(world.log, errors='replace') as f:
        return [line for line in f if word in line]


@tap.case
def tpm_2_0_crb_goes_only_where_the_reporter_found_tpm_2_0():
    both({'flavor_specs': {'hw:tpm_version': '2.0', 'hw:tpm_model': 'tpm-crb'}},
         with_filter=['cmp-20', 'cmp-full'], nova_alone=IN_PLACEMENT_12)


@tap.case
def an_image_asking_tpm_1_2_goes_only_where_swtpm_has_it():
    spec_args = {'image_props': {'hw_tpm_version': '1.2', 'hw_tpm_model': 'tpm-tis'}}
    both(spec_args, with_filter=['cmp-full'], nova_alone=IN_PLACEMENT_12)
    # The operator's answer to "why not cmp-20?" is in the scheduler's log.
    lines = log_lines('VTPMFilter: instance')
    assert any('needs %s' % T12 in ln and 'cmp-20 (missing_traits): lacks %s' % T12 in ln
               and 'cmp-unknown (unknown_host)' in ln for ln in lines), lines


@tap.case
def a_flavor_image_conflict_is_refused_by_nova_before_any_filter():
    # Nova's own request translation (get_vtpm_constraint) raises before the
    # filters run, with or without VTPMFilter.
    both({'flavor_specs': {'hw:tpm_version': '2.0'}, 'image_props': {'hw_tpm_version': '1.2'}},
         with_filter=exception.FlavorImageConflict, nova_alone=exception.FlavorImageConflict)


@tap.case
def crb_with_tpm_1_2_is_refused_by_nova_before_any_filter():
    both({'flavor_specs': {'hw:tpm_version': '1.2', 'hw:tpm_model': 'tpm-crb'}},
         with_filter=exception.Invalid, nova_alone=exception.Invalid)


@tap.case
def a_request_without_vtpm_goes_anywhere():
    both({'flavor_specs': {'hw:cpu_policy': 'shared'}}, with_filter=ALL, nova_alone=ALL)


@tap.case
def a_plain_server_rebuilt_to_a_vtpm_image_stays_only_if_its_host_can():
    image = {'hw_tpm_version': '2.0'}
    both({'image_props': image, 'rebuild_on': ('cmp-broken', 'cmp-broken')},
         with_filter=exception.NoValidHost, nova_alone=['cmp-broken'])
    both({'image_props': image, 'rebuild_on': ('cmp-20', 'cmp-20')},
         with_filter=['cmp-20'], nova_alone=['cmp-20'])


@tap.case
def a_trait_the_reporter_publishes_is_seen_by_the_next_request():
    spec_args = {'image_props': {'hw_tpm_version': '1.2'}}
    assert chosen(True, nova_world.request_spec(**spec_args)) == ['cmp-full']
    # cmp-20's swtpm was upgraded: its reporter, a login bound to that host,
    # publishes TPM 1.2 too.
    dsn = world.inventory.bind_reporter('reporter_cmp20', 'cmp-20', UUIDS['cmp-20'])
    bits = nova_world.trait_bits({T12, T20, TIS, CRB})
    nova_world.wait_notified(service(True), lambda: world.inventory.publish(
        'cmp-20', UUIDS['cmp-20'], bits, dsn=dsn))
    assert chosen(True, nova_world.request_spec(**spec_args)) == ['cmp-20', 'cmp-full']


def start_fails(**vtpm):
    """The message of the exception that stops the service from starting."""
    from oslo_config import cfg
    for name, value in vtpm.items():
        cfg.CONF.set_override(name, value, group='vtpm')
    try:
        server = nova_world.start_scheduler(nova_world.FILTERS_WITH_VTPM)
    except Exception as exc:  # what nova-scheduler's start would die of
        return '%s: %s' % (type(exc).__name__, exc)
    finally:
        for name in vtpm:
            cfg.CONF.clear_override(name, group='vtpm')
    nova_world.stop_scheduler(server)
    raise AssertionError('the service started with %r' % vtpm)


@tap.case
def a_wrong_library_path_stops_the_service_start():
    for other in list(SERVICES):
        nova_world.stop_scheduler(SERVICES.pop(other))
    msg = start_fails(filter_library='/nonexistent/libvtpm-filter.so.0')
    assert msg.startswith("LibraryError: cannot load libvtpm-filter "
                          "'/nonexistent/libvtpm-filter.so.0': "), msg
    assert 'No such file' in msg, msg


@tap.case
def a_dsn_without_the_inventory_stops_the_service_start():
    msg = start_fails(dsn=world.inventory.admin_dsn)
    assert msg.startswith('VTPMError: cannot open the inventory: '), msg
    assert 'vtpm-inventory migrate' in msg, msg


@tap.case
def nova_scheduler_itself_exits_with_the_message():
    # Nova's own entry point (what /usr/bin/nova-scheduler runs), with a
    # second configuration file that points at a missing library.
    bad = os.path.join(world.dir, 'bad.conf')
    with open(bad, 'w') as f:
        f.write('[DEFAULT]\nlog_file = nova-scheduler-bad.log\n'
                '[vtpm]\nfilter_library = /nonexistent/libvtpm-filter.so.0\n')
    out = subprocess.run([sys.executable, '-c', 'import sys; from nova.cmd.scheduler import main; '
                          'sys.argv[0] = "nova-scheduler"; main()', '--config-file', world.conf,
                          '--config-file', bad], env=nova_world.child_env(), timeout=120,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert out.returncode != 0, out.stdout
    with open(os.path.join(world.dir, 'nova-scheduler-bad.log'), errors='replace') as f:
        text = f.read()
    assert "cannot load libvtpm-filter '/nonexistent/libvtpm-filter.so.0'" in text, text[-3000:]


if __name__ == '__main__':
    tap.run()
