# SPDX-License-Identifier: Apache-2.0
"""ctypes bindings of libvtpm-filter (<vtpm/filter.h>) and libvtpm-inventory (<vtpm/inventory.h>)."""
import ctypes
import os
import uuid as uuidlib

# The runtime names: the unversioned libvtpm-filter.so is the -dev package's
# symlink and is not there on a scheduler host.
FILTER_SONAME = 'libvtpm-filter.so.0'
INVENTORY_SONAME = 'libvtpm-inventory.so.0'

# vtpm_status values and names (append-only in the header). Here, not asked
# of libvtpm-filter: libvtpm-inventory does not export vtpm_status_name.
OK = 0
_STATUS_NAMES = ('ok', 'invalid_arg', 'no_memory', 'bad_input', 'unknown_flags',
                 'database', 'unreachable')

PROFILES = ('current', 'legacy')
_FILTER_STRICT = 1

_VERSION_NAMES = {0: None, 1: '1.2', 2: '2.0'}
_MODEL_NAMES = {0: None, 1: 'tpm-tis', 2: 'tpm-crb'}
_SECRET_NAMES = {0: None, 1: 'user', 2: 'host', 3: 'deployment'}

_traitset = ctypes.c_uint64
_p = ctypes.c_void_p


class LibraryError(Exception):
    """A library cannot be loaded or lacks a symbol: raised at construction."""


class VTPMError(Exception):
    """A call of a library failed; status is the vtpm_status name."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Error(ctypes.Structure):
    _fields_ = [('status', ctypes.c_int), ('line', ctypes.c_int),
                ('column', ctypes.c_int), ('message', ctypes.c_char * 256)]


class _UUID(ctypes.Structure):
    _fields_ = [('bytes', ctypes.c_ubyte * 16)]


_FILTER_SYMBOLS = {
    'vtpm_code_name': (ctypes.c_char_p, [ctypes.c_int]),
    'vtpm_trait_name': (ctypes.c_char_p, [ctypes.c_int]),
    'vtpm_trait_from_name': (ctypes.c_int, [ctypes.c_char_p]),
    'vtpm_filter_version': (ctypes.c_char_p, []),
    'vtpm_filter_new': (_p, [ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_Error)]),
    'vtpm_filter_free': (None, [_p]),
    'vtpm_request_new': (_p, []),
    'vtpm_request_free': (None, [_p]),
    'vtpm_request_reset': (None, [_p]),
    'vtpm_request_set_flavor_spec': (ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_char_p]),
    'vtpm_request_set_image_property': (ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_char_p]),
    'vtpm_request_parse_json': (ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.POINTER(_Error)]),
    'vtpm_result_new': (_p, []),
    'vtpm_result_free': (None, [_p]),
    'vtpm_result_accepted': (ctypes.c_bool, [_p]),
    'vtpm_result_code': (ctypes.c_int, [_p]),
    'vtpm_result_message': (ctypes.c_char_p, [_p]),
    'vtpm_result_version': (ctypes.c_int, [_p]),
    'vtpm_result_model': (ctypes.c_int, [_p]),
    'vtpm_result_secret_security': (ctypes.c_int, [_p]),
    'vtpm_result_required_traits': (_traitset, [_p]),
    'vtpm_filter_translate': (ctypes.c_int, [_p, _p, _p]),
    'vtpm_filter_required_traits': (ctypes.c_bool, [_p, _p, ctypes.POINTER(_traitset),
                                                    ctypes.POINTER(ctypes.c_int)]),
}

_INVENTORY_SYMBOLS = {
    'vtpm_inventory_open': (_p, [ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(_Error)]),
    'vtpm_inventory_close': (None, [_p]),
    'vtpm_inventory_fd': (ctypes.c_int, [_p]),
    'vtpm_inventory_refresh': (ctypes.c_int, [_p, ctypes.c_int, ctypes.POINTER(_Error)]),
    'vtpm_inventory_reload': (ctypes.c_int, [_p, ctypes.POINTER(_Error)]),
    'vtpm_inventory_set_reload_interval': (ctypes.c_int, [_p, ctypes.c_uint]),
    'vtpm_inventory_size': (ctypes.c_size_t, [_p]),
    'vtpm_inventory_candidates': (ctypes.c_size_t, [_p, _traitset, _traitset,
                                                    ctypes.POINTER(_UUID), ctypes.c_size_t]),
    'vtpm_inventory_lookup': (ctypes.c_bool, [_p, ctypes.POINTER(_UUID),
                                              ctypes.POINTER(_traitset),
                                              ctypes.POINTER(ctypes.c_int64)]),
    'vtpm_inventory_check_many': (ctypes.c_size_t, [_p, ctypes.c_char_p, ctypes.c_size_t,
                                                    _traitset, _p]),
}

# What vtpm_inventory_check_many writes per host (vtpm_inventory_check_result).
CHECK_LACKS, CHECK_PASSES, CHECK_UNKNOWN = 0, 1, 2


def _load(path, soname, symbols, what):
    """Opens @path (absolute) or @soname and declares @symbols; LibraryError with both."""
    if path and not os.path.isabs(path):
        raise LibraryError("cannot load %s '%s': not an absolute path" % (what, path))
    name = path or soname
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise LibraryError("cannot load %s '%s': %s" % (what, name, exc)) from None
    for sym, (restype, argtypes) in symbols.items():
        try:
            fn = getattr(lib, sym)
        except AttributeError:
            raise LibraryError("cannot load %s '%s': it has no symbol %s (too old?)"
                               % (what, name, sym)) from None
        fn.restype = restype
        fn.argtypes = argtypes
    lib.vtpm_placement_path = name
    return lib


def load_filter_library(path=None):
    """Returns libvtpm-filter from the absolute @path, or by soname when None."""
    return _load(path, FILTER_SONAME, _FILTER_SYMBOLS, 'libvtpm-filter')


def load_inventory_library(path=None):
    """Returns libvtpm-inventory from the absolute @path, or by soname when None."""
    return _load(path, INVENTORY_SONAME, _INVENTORY_SYMBOLS, 'libvtpm-inventory')


def _text(value):
    return None if value is None else value.decode('utf-8', 'replace')


def _bytes(value):
    if value is None:
        return None
    return str(value).encode('utf-8')


def _raise(status, err, what):
    message = err.message.decode('utf-8', 'replace') if err is not None else ''
    name = _STATUS_NAMES[status] if 0 <= status < len(_STATUS_NAMES) else str(status)
    raise VTPMError(name, '%s: %s' % (what, message or name))


def trait_names(lib, bits):
    """Names of the traits in the trait set @bits, in bit order."""
    names = []
    for bit in range(64):
        if bits >> bit & 1:
            name = _text(lib.vtpm_trait_name(bit))
            names.append(name if name else 'bit %d' % bit)
    return names


TRAIT_NAMES = (
    'COMPUTE_SECURITY_TPM_1_2',
    'COMPUTE_SECURITY_TPM_2_0',
    'COMPUTE_SECURITY_TPM_TIS',
    'COMPUTE_SECURITY_TPM_CRB',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
    'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT',
)


class _Owned:
    """A C object freed by self._free when closed or collected (self.handle may
    be missing when the constructor failed)."""

    def close(self):
        if getattr(self, 'handle', None):
            self._free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


class Translation:
    """What vtpm_filter_translate decided, copied out of the result object."""

    def __init__(self, lib, res):
        self.accepted = bool(lib.vtpm_result_accepted(res))
        code = lib.vtpm_result_code(res)
        self.code = None if self.accepted else _text(lib.vtpm_code_name(code))
        self.message = _text(lib.vtpm_result_message(res)) or ''
        self.version = _VERSION_NAMES.get(lib.vtpm_result_version(res))
        self.model = _MODEL_NAMES.get(lib.vtpm_result_model(res))
        self.secret_security = _SECRET_NAMES.get(lib.vtpm_result_secret_security(res))
        self.required = lib.vtpm_result_required_traits(res)
        self.required_traits = trait_names(lib, self.required)

    def __repr__(self):
        if not self.accepted:
            return '<Translation reject %s: %s>' % (self.code, self.message)
        return '<Translation accept %s %s %s %s>' % (self.version, self.model,
                                                     self.secret_security,
                                                     self.required_traits)


class Request(_Owned):
    """A vtpm_request: flavor extra specs and image properties of one request."""

    def __init__(self, lib):
        self._lib = lib
        self._free = lib.vtpm_request_free
        self.handle = lib.vtpm_request_new()
        if not self.handle:
            raise MemoryError('cannot allocate a vtpm_request')

    def reset(self):
        self._lib.vtpm_request_reset(self.handle)

    def set_flavor_spec(self, key, value):
        st = self._lib.vtpm_request_set_flavor_spec(self.handle, _bytes(key), _bytes(value))
        if st != OK:
            _raise(st, None, "cannot record flavor extra spec '%s'" % key)

    def set_image_property(self, key, value):
        st = self._lib.vtpm_request_set_image_property(self.handle, _bytes(key), _bytes(value))
        if st != OK:
            _raise(st, None, "cannot record image property '%s'" % key)

    def parse_json(self, text):
        data = text.encode('utf-8') if isinstance(text, str) else text
        err = _Error()
        st = self._lib.vtpm_request_parse_json(self.handle, data, len(data), ctypes.byref(err))
        if st != OK:
            _raise(st, err, 'cannot parse the request')


class Filter(_Owned):
    """A vtpm_filter: profile 'current' or 'legacy', strict or not. Shareable by threads."""

    def __init__(self, profile='current', strict=False, library=None):
        if profile not in PROFILES:
            raise ValueError("unknown profile '%s' (current or legacy)" % profile)
        self.lib = library if library is not None else load_filter_library()
        self._free = self.lib.vtpm_filter_free
        err = _Error()
        self.handle = self.lib.vtpm_filter_new(PROFILES.index(profile),
                                               _FILTER_STRICT if strict else 0,
                                               ctypes.byref(err))
        if not self.handle:
            _raise(err.status, err, 'cannot create the filter')
        self.profile = profile
        self.strict = strict
        self._names = {}

    def request(self, flavor_specs=None, image_props=None):
        """A new Request holding the TPM keys of two dicts (others cost nothing)."""
        req = Request(self.lib)
        for key, value in (flavor_specs or {}).items():
            if key.startswith('hw:tpm_'):
                req.set_flavor_spec(key, value)
        for key, value in (image_props or {}).items():
            if key.startswith('hw_tpm_'):
                req.set_image_property(key, value)
        return req

    def translate(self, req):
        """The full decision for a Request, with its message: a Translation."""
        res = self.lib.vtpm_result_new()
        if not res:
            raise MemoryError('cannot allocate a vtpm_result')
        try:
            st = self.lib.vtpm_filter_translate(self.handle, req.handle, res)
            if st != OK:
                _raise(st, None, 'cannot translate the request')
            return Translation(self.lib, res)
        finally:
            self.lib.vtpm_result_free(res)

    def required_traits(self, req):
        """(accepted, required trait bits, code name or None): the hot path."""
        required = _traitset(0)
        code = ctypes.c_int(0)
        ok = self.lib.vtpm_filter_required_traits(self.handle, req.handle,
                                                  ctypes.byref(required), ctypes.byref(code))
        return bool(ok), required.value, None if ok else _text(self.lib.vtpm_code_name(code.value))

    def code_name(self, code):
        return _text(self.lib.vtpm_code_name(code))

    def trait_names(self, bits):
        # Seven traits: at most 128 sets, each named once (log lines name them).
        names = self._names.get(bits)
        if names is None:
            names = trait_names(self.lib, bits)
            if len(self._names) < 1024:
                self._names[bits] = names
        return names


def uuid_struct(text):
    """A vtpm_uuid for the uuid @text (any form uuid.UUID takes); ValueError if not one."""
    return uuid_struct_of_bytes(uuidlib.UUID(str(text)).bytes)


def uuid_struct_of_bytes(key):
    """A vtpm_uuid from the 16 bytes @key (uuid.UUID.bytes)."""
    return _UUID.from_buffer_copy(key)


class Inventory(_Owned):
    """A vtpm_inventory: one thread at a time (the caller locks), as in <vtpm/inventory.h>."""

    def __init__(self, dsn, library=None):
        self.lib = library if library is not None else load_inventory_library()
        self._free = self.lib.vtpm_inventory_close
        err = _Error()
        self.handle = self.lib.vtpm_inventory_open(_bytes(dsn), 0, ctypes.byref(err))
        if not self.handle:
            _raise(err.status, err, 'cannot open the inventory')

    def refresh(self, timeout_ms=0):
        err = _Error()
        st = self.lib.vtpm_inventory_refresh(self.handle, timeout_ms, ctypes.byref(err))
        if st != OK:
            _raise(st, err, 'cannot refresh the inventory')

    def reload(self):
        err = _Error()
        st = self.lib.vtpm_inventory_reload(self.handle, ctypes.byref(err))
        if st != OK:
            _raise(st, err, 'cannot reload the inventory')

    def set_reload_interval(self, seconds):
        st = self.lib.vtpm_inventory_set_reload_interval(self.handle, seconds)
        if st != OK:
            _raise(st, None, 'cannot set the reload interval')

    def fd(self):
        return self.lib.vtpm_inventory_fd(self.handle)

    def __len__(self):
        return self.lib.vtpm_inventory_size(self.handle)

    def lookup(self, key):
        """Trait bits of the provider @key (a uuid_struct), or None when unknown."""
        traits = _traitset(0)
        if not self.lib.vtpm_inventory_lookup(self.handle, ctypes.byref(key),
                                              ctypes.byref(traits), None):
            return None
        return traits.value

    def check_many(self, keys, required):
        """One byte per host (CHECK_LACKS, CHECK_PASSES, CHECK_UNKNOWN), a bytearray:
        @keys is the hosts' uuids as 16 bytes each, joined (uuid.UUID.bytes)."""
        n = len(keys) // 16
        if len(keys) != n * 16:
            raise ValueError('keys must be 16 bytes per host, not %d bytes' % len(keys))
        out = bytearray(n)
        if n:
            self.lib.vtpm_inventory_check_many(self.handle, keys, n, required,
                                               ctypes.addressof((ctypes.c_char * n).from_buffer(out)))
        return out

    def candidates(self, required, forbidden=0):
        """Uuids (text) of the providers with every trait of @required, none of @forbidden."""
        n = self.lib.vtpm_inventory_candidates(self.handle, required, forbidden, None, 0)
        out = (_UUID * max(n, 1))()
        n = self.lib.vtpm_inventory_candidates(self.handle, required, forbidden, out, n)
        return [str(uuidlib.UUID(bytes=bytes(u.bytes))) for u in out[:n]]

    def forget(self):
        """Drops the handle without closing it: after a fork, the connection is the
        parent's, and closing it here would end the parent's session."""
        self.handle = None

