# SPDX-License-Identifier: Apache-2.0
"""A small Nova deployment on 127.0.0.1 for the end-to-end test and the demo.

It holds what a real nova-scheduler needs: sqlite API and cell databases made
by Nova's own nova-manage, Debian's placement-api (tests/fixtures/placement-api.sh,
noauth2), a PostgreSQL inventory migrated with the build's vtpm-inventory,
compute nodes (ComputeNode and nova-compute Service records in the cell
database, resource providers with inventories and traits in Placement), and a
nova-scheduler service started in this process over oslo.messaging's fake:/
transport, asked through Nova's scheduler RPC API.

Run under /usr/bin/python3. The caller imports nova.monkey_patch first, as
nova-scheduler does (its nova/cmd package does it on import).
"""
import json
import os
import select
import shutil
import subprocess
import urllib.request
import uuid

PYTHON = '/usr/bin/python3'
NOVA_MANAGE = ('import sys; sys.argv[0] = "nova-manage"; '
               'from nova.cmd.manage import main; sys.exit(main())')
PLACEMENT_VERSION = 'placement 1.36'
TRAIT_PREFIX = 'COMPUTE_SECURITY_TPM_'
# The seven trait bits of <vtpm/traits.h>, in bit order.
TRAIT_NAMES = ('COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0',
               'COMPUTE_SECURITY_TPM_TIS', 'COMPUTE_SECURITY_TPM_CRB',
               'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
               'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
               'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT')


class WorldError(Exception):
    """A component of the deployment could not be started or configured."""


def child_env():
    """The environment of the programs started here: without the sanitizer
    runtimes preloaded into this interpreter, nor their options."""
    env = dict((k, v) for k, v in os.environ.items()
               if k not in ('LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'))
    env['VTPM_PG_FAST'] = '1'
    return env


def run(cmd, what, **kwargs):
    """Runs @cmd; WorldError with its output when it fails."""
    out = subprocess.run(cmd, env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300, **kwargs)
    if out.returncode != 0:
        raise WorldError('%s failed (exit %d): %s' % (what, out.returncode, out.stdout[-2000:]))
    return out.stdout


def trait_bits(names):
    return sum(1 << TRAIT_NAMES.index(n) for n in names)


def trait_names(bits):
    return [n for i, n in enumerate(TRAIT_NAMES) if bits >> i & 1]


class Inventory:
    """The vTPM inventory: database vtpm in a PostgreSQL cluster, migrated."""

    def __init__(self, admin_dsn, tool, migrations):
        self.admin_dsn = admin_dsn
        self.dsn = admin_dsn.replace('dbname=postgres', 'dbname=vtpm')
        self.tool = tool
        self.sql('CREATE DATABASE vtpm', dsn=admin_dsn)
        run([tool, '--dsn', self.dsn, '--dir', migrations, 'migrate'], 'vtpm-inventory migrate')

    @classmethod
    def existing(cls, dsn):
        """An inventory already migrated at @dsn (the demo's)."""
        inv = cls.__new__(cls)
        inv.admin_dsn = inv.dsn = dsn
        inv.tool = None
        return inv

    def sql(self, text, dsn=None, **variables):
        """Runs @text with psql; :'name' in it is @variables[name], quoted by psql."""
        cmd = ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', dsn or self.dsn]
        for name, value in variables.items():
            cmd += ['-v', '%s=%s' % (name, value)]
        return run(cmd, 'psql', input=text)

    def publish(self, host, host_uuid, bits, dsn=None):
        """Publishes @host (provider @host_uuid) with the traits of @bits through
        vtpm.publish(), as the owner or as the reporter login of @dsn."""
        traits = dict((name, {'present': bool(bits >> i & 1), 'code': 'ok', 'reason': 'test'})
                      for i, name in enumerate(TRAIT_NAMES))
        self.sql("SELECT 1 FROM vtpm.publish(:'host', :'uuid', false, NULL, :'traits'::jsonb, NULL)",
                 dsn=dsn, host=host, uuid=host_uuid, traits=json.dumps(traits))

    def bind_reporter(self, login, host, host_uuid):
        """A reporter login that can publish @host only; returns its DSN (the
        cluster trusts local socket logins)."""
        run([self.tool, '--dsn', self.dsn, 'bind-reporter', login, host, '--uuid', host_uuid],
            'vtpm-inventory bind-reporter')
        return self.dsn.replace('user=postgres', 'user=' + login)


class Placement:
    """Debian's placement-api under uwsgi, noauth2 (token "admin"). Its start
    (a PostgreSQL cluster, db sync, uwsgi) runs in the background until
    wait(): the Nova databases can be made meanwhile."""

    def __init__(self, fixture, folder):
        self.fixture = fixture
        self.dir = folder
        self.url = None
        self._start = subprocess.Popen([fixture, 'start', folder], env=child_env(),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)

    def wait(self):
        """The endpoint URL, once placement-api answers."""
        if self.url is None:
            out, _ = self._start.communicate(timeout=300)
            if self._start.returncode != 0:
                raise WorldError('placement-api.sh start failed (exit %d): %s'
                                 % (self._start.returncode, out[-2000:]))
            self.url = out.strip().splitlines()[-1]
        return self.url

    def cluster_dsn(self, pg_cluster):
        """The admin DSN of the PostgreSQL cluster the fixture started."""
        return run([pg_cluster, 'dsn', os.path.join(self.dir, 'pg')], 'pg-cluster.sh dsn').strip()

    def call(self, method, path, body=None):
        self.wait()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            'X-Auth-Token': 'admin', 'OpenStack-API-Version': PLACEMENT_VERSION,
            'Content-Type': 'application/json', 'Accept': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def add_provider(self, rp_uuid, name, traits, vcpus=64, memory_mb=262144, disk_gb=4000):
        """A compute node's provider, as nova-compute registers it."""
        self.call('POST', '/resource_providers', {'uuid': rp_uuid, 'name': name})
        inv = {'resource_provider_generation': 0, 'inventories': {
            'VCPU': {'total': vcpus, 'allocation_ratio': 4.0},
            'MEMORY_MB': {'total': memory_mb},
            'DISK_GB': {'total': disk_gb}}}
        self.call('PUT', '/resource_providers/%s/inventories' % rp_uuid, inv)
        self.set_traits(rp_uuid, traits)

    def set_traits(self, rp_uuid, traits):
        gen = self.call('GET', '/resource_providers/%s' % rp_uuid)['generation']
        self.call('PUT', '/resource_providers/%s/traits' % rp_uuid,
                  {'resource_provider_generation': gen, 'traits': sorted(traits)})

    def stop(self):
        if self._start.poll() is None:
            self._start.kill()
            self._start.wait()
        subprocess.run([self.fixture, 'stop', self.dir], env=child_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def nova_manage(conf, *args):
    """Nova's own nova-manage (the entry point of Debian's nova-common, from python3-nova)."""
    log = os.path.join(os.path.dirname(conf), 'nova-manage.log')
    return run([PYTHON, '-c', NOVA_MANAGE, '--config-file', conf, '--log-file', log] + list(args),
               'nova-manage ' + ' '.join(args))


NOVA_CONF = """[DEFAULT]
transport_url = fake:/
host = {host}
state_path = {dir}
log_dir = {dir}
log_file = nova-scheduler.log
debug = {debug}
# No nova-compute runs here to heartbeat: its services stay up for an hour.
service_down_time = 3600

[api_database]
connection = sqlite:///{dir}/nova_api.sqlite

[database]
connection = sqlite:///{dir}/nova_cell1.sqlite

[oslo_concurrency]
lock_path = {dir}/lock

[scheduler]
workers = 1
max_attempts = {max_attempts}

[filter_scheduler]
available_filters = nova.scheduler.filters.all_filters
available_filters = vtpm_placement.nova_filter.VTPMFilter
enabled_filters = {filters}
track_instance_changes = False

[placement]
auth_type = admin_token
endpoint = {placement}
token = admin

[vtpm]
filter_library = {filter_lib}
inventory_library = {inventory_lib}
dsn = {dsn}
"""

FILTERS_WITH_VTPM = ['ComputeFilter', 'ImagePropertiesFilter', 'VTPMFilter']
FILTERS_NOVA_ONLY = ['ComputeFilter', 'ImagePropertiesFilter']


def write_nova_conf(folder, placement, filter_lib, inventory_lib, dsn,
                    max_attempts=10, debug=False, api_only=False):
    """Writes @folder/nova.conf, the scheduler's configuration, and creates the
    databases with nova-manage: the API database, and unless @api_only, cell0
    and cell1 mapped in it and migrated. @placement: a Placement (its URL is
    waited for after the databases are made) or a URL; @dsn: the inventory's,
    or a function called after that wait that returns it."""
    os.makedirs(os.path.join(folder, 'lock'), exist_ok=True)
    conf = os.path.join(folder, 'nova.conf')

    def write(url, inventory_dsn):
        with open(conf, 'w') as f:
            f.write(NOVA_CONF.format(host='vtpm-scheduler', dir=folder, debug=debug,
                                     max_attempts=max_attempts,
                                     filters=','.join(FILTERS_WITH_VTPM), placement=url,
                                     filter_lib=filter_lib, inventory_lib=inventory_lib,
                                     dsn=inventory_dsn))

    # nova-manage reads only the database connections.
    write(placement if isinstance(placement, str) else 'http://127.0.0.1:9',
          'dbname=unset' if callable(dsn) else dsn)
    nova_manage(conf, 'api_db', 'sync')
    if not api_only:
        nova_manage(conf, 'cell_v2', 'map_cell0', '--database_connection',
                    'sqlite:///%s/nova_cell0.sqlite' % folder)
        nova_manage(conf, 'cell_v2', 'create_cell', '--name', 'cell1')
        nova_manage(conf, 'db', 'sync')
    if not isinstance(placement, str) or callable(dsn):
        write(placement if isinstance(placement, str) else placement.wait(),
              dsn() if callable(dsn) else dsn)
    return conf


# What follows runs in this process, with Nova's configuration parsed.

def load_nova_conf(conf):
    """Parses @conf as nova-scheduler does at start: RPC and logging too."""
    from oslo_log import log as logging
    from nova import config
    from nova import objects
    config.parse_args(['nova-scheduler', '--config-file', conf])
    logging.setup(config.CONF, 'nova')
    objects.register_all()


def register_compute(name, rp_uuid, vcpus=64, memory_mb=262144, disk_gb=4000):
    """The records nova-compute keeps in the cell database for one host: its
    service, its compute node (uuid = the provider's) and its host mapping."""
    from nova import context as nova_context
    from nova import objects
    ctxt = nova_context.get_admin_context()
    svc = objects.Service(ctxt, host=name, binary='nova-compute', topic='compute',
                          report_count=0)
    svc.create()
    objects.ComputeNode(
        ctxt, uuid=rp_uuid, host=name, hypervisor_hostname=name, service_id=svc.id,
        vcpus=vcpus, memory_mb=memory_mb, local_gb=disk_gb, vcpus_used=0, memory_mb_used=0,
        local_gb_used=0, free_ram_mb=memory_mb, free_disk_gb=disk_gb,
        disk_available_least=disk_gb, running_vms=0, hypervisor_type='QEMU',
        hypervisor_version=7002000, cpu_info='{}', current_workload=0,
        supported_hv_specs=[objects.HVSpec(arch='x86_64', hv_type='kvm', vm_mode='hvm')],
        cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
        host_ip='127.0.0.1', stats={}, metrics='[]', numa_topology=None,
        pci_device_pools=objects.PciDevicePoolList()).create()
    cell = [c for c in objects.CellMappingList.get_all(ctxt) if not c.is_cell0()][0]
    objects.HostMapping(ctxt, host=name, cell_mapping=cell).create()


def start_scheduler(filters):
    """A nova-scheduler service with @filters enabled, as nova/cmd/scheduler.py
    creates it (without forking workers), started: its RPC server listens."""
    from oslo_config import cfg
    from nova.scheduler import rpcapi
    from nova import service
    cfg.CONF.set_override('enabled_filters', filters, group='filter_scheduler')
    server = service.Service.create(binary='nova-scheduler', topic=rpcapi.RPC_TOPIC)
    server.start()
    return server


def stop_scheduler(server):
    server.stop()
    server.wait()


def vtpm_filter_of(server):
    """The VTPMFilter object of a running scheduler service, or None."""
    for flt in server.manager.host_manager.enabled_filters:
        if type(flt).__name__ == 'VTPMFilter':
            return flt
    return None


def wait_notified(server, publish, timeout=5.0):
    """Runs @publish, then waits until its notification has reached the
    inventory connection of the service's VTPMFilter (what its next request
    applies). Notifications already there are applied first."""
    flt = vtpm_filter_of(server)
    with flt._lock:
        inv = flt._refreshed_inventory()
    publish()
    readable, _, _ = select.select([inv.fd()], [], [], timeout)
    if not readable:
        raise WorldError('no inventory notification within %.0f s' % timeout)


def request_spec(flavor_specs=None, image_props=None, rebuild_on=None):
    """A RequestSpec as the compute API builds one (RequestSpec.from_components
    with a Flavor and an ImageMeta); @rebuild_on: (host, node) of a server
    rebuilt to this image, with what the compute API's rebuild adds."""
    from nova import context as nova_context
    from nova import objects
    ctxt = nova_context.RequestContext(user_id='demo-user', project_id='demo-project')
    flavor = objects.Flavor(name='vtpm.small', flavorid='vtpm-small', memory_mb=512, vcpus=1,
                            root_gb=1, ephemeral_gb=0, swap=0, is_public=True,
                            extra_specs=dict(flavor_specs or {}))
    image = objects.ImageMeta.from_dict({'id': str(uuid.uuid4()), 'name': 'img',
                                         'properties': dict(image_props or {})})
    spec = objects.RequestSpec.from_components(
        ctxt, str(uuid.uuid4()), image, flavor, None, None, {}, None, None)
    spec.project_id, spec.user_id = 'demo-project', 'demo-user'
    if rebuild_on is not None:
        spec.scheduler_hints = {'_nova_check_type': ['rebuild']}
        spec.force_hosts = [rebuild_on[0]]
        spec.force_nodes = [rebuild_on[1]]
    return spec


def select_hosts(spec):
    """Nova's scheduler RPC API select_destinations for one instance, with
    alternates (max_attempts bounds them): the chosen host first, then every
    other host that passed the filters. A list of host names, or the
    exception the call raised."""
    from nova import context as nova_context
    from nova.scheduler import rpcapi
    ctxt = nova_context.get_admin_context()
    try:
        selections = rpcapi.SchedulerAPI().select_destinations(
            ctxt, spec, [spec.instance_uuid], return_objects=True, return_alternates=True)
    except Exception as exc:  # NoValidHost, or what Nova raised for the request
        return exc
    return [s.service_host for s in selections[0]]


def remove(folder):
    shutil.rmtree(folder, ignore_errors=True)
