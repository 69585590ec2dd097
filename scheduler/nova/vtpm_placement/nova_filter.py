# SPDX-License-Identifier: Apache-2.0
"""VTPMFilter: a Nova scheduler host filter over libvtpm-filter and libvtpm-inventory.

nova.conf:
    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = vtpm_placement.nova_filter.VTPMFilter
    enabled_filters = ...,VTPMFilter
    [vtpm]
    dsn = host=db.example.org dbname=vtpm user=nova_scheduler
"""
import itertools
import logging
import os
import sys
import threading
import time
import uuid as uuidlib
import weakref

from oslo_config import cfg

from nova.scheduler import filters

from vtpm_placement import bindings

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

UNKNOWN_HOST_POLICIES = ('fail-vtpm', 'pass')
LOG_LEVELS = {'debug': logging.DEBUG, 'info': logging.INFO,
              'warning': logging.WARNING, 'error': logging.ERROR}

opts = [
    cfg.StrOpt('filter_library',
               help='Absolute path of libvtpm-filter; unset: the soname %s from the '
                    'library path.' % bindings.FILTER_SONAME),
    cfg.StrOpt('inventory_library',
               help='Absolute path of libvtpm-inventory; unset: the soname %s. Loaded '
                    'only when dsn is set.' % bindings.INVENTORY_SONAME),
    cfg.StrOpt('profile', default='legacy', choices=bindings.PROFILES,
               help='legacy: the rules and the version trait of Nova up to 2025.1 '
                    '(Zed); current: also model and secret-security traits.'),
    cfg.BoolOpt('strict', default=False,
                help='Also refuse what Nova silently ignores: a model or secret '
                     'security without a version, unknown hw:tpm_* or hw_tpm_* keys.'),
    cfg.StrOpt('dsn', secret=True,
               help='libpq connection string of the vTPM inventory (role '
                    'vtpm_reader). Unset: requests are still checked, and every host '
                    'follows unknown_host.'),
    cfg.StrOpt('unknown_host', default='fail-vtpm', choices=UNKNOWN_HOST_POLICIES,
               help='A host without a compute node uuid or unknown to the inventory: '
                    'fail-vtpm fails it for requests that ask for a vTPM (others pass '
                    'anyway); pass lets it through.'),
    cfg.StrOpt('refusal_log_level', default='info', choices=sorted(LOG_LEVELS),
               help='Level of the log line that says why a request or hosts were '
                    'refused (the user sees only NoValidHost).'),
    cfg.IntOpt('reconnect_interval', default=10, min=1,
               help='Seconds between attempts to open the inventory after it could '
                    'not be opened again (after a fork).'),
]

CONF.register_opts(opts, group='vtpm')


def list_opts():
    """For oslo-config-generator."""
    return [('vtpm', opts)]


# The key of a host without a usable uuid; its result is overridden anyway.
_NIL_KEY = bytes(16)
# vtpm_inventory_check_many's byte per host -> 1 passes, 0 fails: a host the
# inventory does not hold passes or fails by the unknown_host policy.
_UNKNOWN_FAILS = bytes.maketrans(b'\x00\x01\x02', b'\x00\x01\x00')
_UNKNOWN_PASSES = bytes.maketrans(b'\x00\x01\x02', b'\x00\x01\x01')


def _eventlet_patched():
    eventlet = sys.modules.get('eventlet')
    return eventlet is not None and eventlet.patcher.is_monkey_patched('thread')


def _offhub(fn, *args, **kwargs):
    """Runs @fn where waiting for the database cannot stall the service.

    nova-scheduler monkey-patches everything with eventlet: its greenthreads
    share one OS thread, and a C call that waits on the network (libpq's
    connect, a query after a notification) would stop all of them, the RPC
    heartbeats included. eventlet.tpool runs the call in a native thread and
    parks only the calling greenthread (ctypes releases the GIL). Without
    monkey-patching there is no hub to stall: the calling OS thread waits
    alone, as any blocking call does, so the call runs in place.
    """
    if _eventlet_patched():
        from eventlet import tpool
        return tpool.execute(fn, *args, **kwargs)
    return fn(*args, **kwargs)


# Filters to reset in a forked child (oslo.service forks its workers after the
# scheduler manager, and with it this filter, was created).
_live_filters = weakref.WeakSet()


def _after_fork_in_child():
    for flt in list(_live_filters):
        flt._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _request_of(vfilter, spec_obj):
    """A bindings.Request from the TPM keys of the flavor and of the image of @spec_obj."""
    specs = {}
    flavor = spec_obj.flavor if spec_obj.obj_attr_is_set('flavor') else None
    if flavor is not None and flavor.obj_attr_is_set('extra_specs'):
        specs = flavor.extra_specs or {}
    props = {}
    image = spec_obj.image if spec_obj.obj_attr_is_set('image') else None
    if image is not None and image.obj_attr_is_set('properties'):
        meta = image.properties
        # ImageMetaProps fields (hw_tpm_version, hw_tpm_model; a newer Nova's
        # hw_tpm_secret_security): only those set, as Nova's .get() reads them.
        for name in _tpm_fields(type(meta)):
            if meta.obj_attr_is_set(name):
                props[name] = meta.get(name)
    return vfilter.request(specs, props)


_TPM_FIELDS = {}


def _tpm_fields(cls):
    """The hw_tpm_* field names of an ImageMetaProps class, found once: a
    request then reads those only, not the hundred-odd others."""
    names = _TPM_FIELDS.get(cls)
    if names is None:
        names = _TPM_FIELDS[cls] = tuple(n for n in cls.fields if n.startswith('hw_tpm_'))
    return names


def _instance_of(spec_obj):
    # An unset field of a Nova object raises NotImplementedError, not AttributeError.
    return spec_obj.instance_uuid if spec_obj.obj_attr_is_set('instance_uuid') else None


class VTPMFilter(filters.BaseHostFilter):
    """Passes hosts whose inventory traits cover what the request's vTPM needs."""

    # Nova Zed refuses to rebuild a server that has a vTPM (compute API,
    # reject_vtpm_instances), so the rebuilds that reach the scheduler are of
    # plain servers, possibly to an image that asks for a vTPM; the only
    # host is the server's own, and it must have the traits.
    RUN_ON_REBUILD = True

    def __init__(self):
        super().__init__()
        conf = CONF.vtpm
        # Both libraries are loaded here, at service start: a wrong path stops
        # the scheduler with the path and the reason, never a request.
        self._filter = bindings.Filter(conf.profile, conf.strict,
                                       bindings.load_filter_library(conf.filter_library))
        self._dsn = conf.dsn
        self._unknown_table = _UNKNOWN_PASSES if conf.unknown_host == 'pass' else _UNKNOWN_FAILS
        self._refusal_level = LOG_LEVELS[conf.refusal_log_level]
        self._reconnect_interval = conf.reconnect_interval
        self._keys = {}
        self._lock = threading.Lock()
        self._inventory = None
        self._next_open = 0.0
        self._last_warning = 0.0
        self._inventory_lib = None
        if self._dsn:
            self._inventory_lib = bindings.load_inventory_library(conf.inventory_library)
            # A missing schema or a refused login is a configuration error:
            # it stops the service too.
            self._inventory = _offhub(bindings.Inventory, self._dsn, self._inventory_lib)
        _live_filters.add(self)

    def _after_fork(self):
        # The child shares the parent's socket: forget it without closing
        # (closing would end the parent's session) and open anew on first use.
        # A lock some other thread held at the fork would never be released.
        if self._inventory is not None:
            self._inventory.forget()
        self._inventory = None
        self._next_open = 0.0
        self._lock = threading.Lock()

    def _refreshed_inventory(self):
        """The inventory with the notifications applied, or None. Caller holds the lock."""
        if not self._dsn:
            return None
        now = time.monotonic()
        if self._inventory is None:
            if now < self._next_open:
                return None
            try:
                self._inventory = _offhub(bindings.Inventory, self._dsn, self._inventory_lib)
            except bindings.VTPMError as exc:
                self._next_open = now + self._reconnect_interval
                LOG.error('VTPMFilter: %s; hosts follow unknown_host until it opens', exc)
                return None
        try:
            # Timeout 0: apply what has arrived, never wait for more.
            _offhub(self._inventory.refresh, 0)
        except bindings.VTPMError as exc:
            # The cache keeps its answers; say so once a minute, not per request.
            if now - self._last_warning >= 60:
                self._last_warning = now
                LOG.warning('VTPMFilter: %s; answering from the traits held in memory', exc)
        return self._inventory

    def _key(self, host_uuid):
        """The 16 bytes of @host_uuid, or None when it is no uuid (cached)."""
        key = self._keys.get(host_uuid)
        if key is None:
            if not host_uuid:
                return None
            try:
                key = uuidlib.UUID(str(host_uuid)).bytes
            except ValueError:
                return None
            if len(self._keys) > 100000:
                self._keys.clear()
            self._keys[host_uuid] = key
        return key

    def _keys_of(self, hosts):
        """(the hosts' uuids as 16 bytes each, joined; indexes of hosts without one)."""
        keys = self._keys
        try:
            # The common case, every uuid seen before. A comprehension reads
            # the attribute faster than operator.attrgetter under map (the
            # interpreter specialises it), and at 10,000 hosts that read is
            # most of the cost (docs/benchmarks.md, Nova filter).
            return b''.join([keys[h.uuid] for h in hosts]), ()
        except (KeyError, AttributeError, TypeError):
            pass
        parts = []
        without = []
        for i, host in enumerate(hosts):
            key = self._key(getattr(host, 'uuid', None))
            if key is None:
                without.append(i)
                key = _NIL_KEY
            parts.append(key)
        return b''.join(parts), without

    def _failure(self, inv, host, code, required):
        """(code, reason) of a host that fails. Caller holds the lock."""
        host_uuid = getattr(host, 'uuid', None)
        key = self._key(host_uuid)
        if key is None:
            return 'host_without_uuid', 'no compute node uuid'
        if inv is None:
            return 'inventory_unavailable', 'no inventory to look %s up in' % host_uuid
        if code == bindings.CHECK_UNKNOWN:
            return 'unknown_host', 'provider %s is not in the inventory' % host_uuid
        lack = required
        if required & (required - 1):
            # More than one trait asked: which are missing needs the host's.
            lack = required & ~(inv.lookup(bindings.uuid_struct_of_bytes(key)) or 0)
        return 'missing_traits', 'lacks %s' % ','.join(self._filter.trait_names(lack))

    def _log_refusal(self, spec_obj, req):
        tr = self._filter.translate(req)
        LOG.log(self._refusal_level, 'VTPMFilter: request for instance %s refused (%s): %s',
                _instance_of(spec_obj), tr.code, tr.message)

    def filter_all(self, filter_obj_list, spec_obj):
        """Translates the request once, then checks every host in one call."""
        req = _request_of(self._filter, spec_obj)
        try:
            accepted, required, _code = self._filter.required_traits(req)
            if not accepted:
                self._log_refusal(spec_obj, req)
                return []
        finally:
            req.close()
        if not required:
            return filter_obj_list
        hosts = filter_obj_list if isinstance(filter_obj_list, list) else list(filter_obj_list)
        with self._lock:
            inv = self._refreshed_inventory()
            keys, without = self._keys_of(hosts)
            if inv is None:
                codes = bytearray([bindings.CHECK_UNKNOWN]) * len(hosts)
            else:
                codes = inv.check_many(keys, required)
            for i in without:
                codes[i] = bindings.CHECK_UNKNOWN
            mask = codes.translate(self._unknown_table)
            passed = list(itertools.compress(hosts, mask))
            if len(passed) < len(hosts):
                self._log_failed_hosts(spec_obj, required, inv, hosts, codes, mask, len(passed))
        return passed

    def _log_failed_hosts(self, spec_obj, required, inv, hosts, codes, mask, n_passed):
        """One line for the request (the first five failing hosts), one per host
        at debug: the reasons are looked up for those only. Caller holds the lock."""
        every = LOG.isEnabledFor(logging.DEBUG)
        if not every and not LOG.isEnabledFor(self._refusal_level):
            return
        shown = []
        i = mask.find(0)
        while i >= 0 and (every or len(shown) < 5):
            host = hosts[i]
            code, reason = self._failure(inv, host, codes[i], required)
            if every:
                LOG.debug('VTPMFilter: host %s (%s) fails (%s): %s', getattr(host, 'host', None),
                          getattr(host, 'nodename', None), code, reason)
            if len(shown) < 5:
                shown.append('%s (%s): %s' % (getattr(host, 'host', None), code, reason))
            i = mask.find(0, i + 1)
        n_failed = len(hosts) - n_passed
        LOG.log(self._refusal_level,
                'VTPMFilter: instance %s needs %s: %d host(s) fail, %d pass; %s%s',
                _instance_of(spec_obj),
                ','.join(self._filter.trait_names(required)), n_failed, n_passed,
                '; '.join(shown), '; ...' if n_failed > 5 else '')

    def host_passes(self, host_state, spec_obj):
        """The same decision for one host, for callers of Nova's per-host API."""
        return bool(self.filter_all([host_state], spec_obj))
