# SPDX-License-Identifier: Apache-2.0
"""vtpm_placement's bindings against the build's libraries: the CLI's golden cases, load errors."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

import vtpm_placement  # noqa: E402
from vtpm_placement import bindings  # noqa: E402

FILTER_LIB = sys.argv[1]
INVENTORY_LIB = sys.argv[2] if len(sys.argv) > 2 else ''
DATA = os.path.join(os.environ['VTPM_TEST_SRCDIR'], 'data', 'translate')

_filters = {}


def golden_cases():
    """(file name, case) of every golden line; "id" is the CLI's echo of the
    request's, not the library's."""
    for path in sorted(glob.glob(os.path.join(DATA, '*.jsonl'))):
        with open(path, encoding='utf-8') as f:
            for line in f:
                if line.strip() and not line.startswith('#'):
                    c = json.loads(line)
                    c['expect'].pop('id', None)
                    yield os.path.basename(path), c


def filter_for(profile, strict):
    key = (profile, strict)
    if key not in _filters:
        lib = bindings.load_filter_library(FILTER_LIB)
        _filters[key] = vtpm_placement.Filter(profile, strict, lib)
    return _filters[key]


def as_output(tr):
    """A Translation in the CLI's JSON output form."""
    if not tr.accepted:
        return {'result': 'reject', 'code': tr.code, 'message': tr.message}
    vtpm = None
    if tr.version:
        vtpm = {'version': tr.version, 'model': tr.model, 'secret_security': tr.secret_security}
    return {'result': 'accept', 'vtpm': vtpm, 'required_traits': tr.required_traits}


def dict_values_are_text(d):
    return d is None or all(v is None or isinstance(v, str) for v in d.values())


def by_keys(flt, request):
    """The request through set_flavor_spec/set_image_property, or None if it has
    values only the JSON reader judges (numbers, a null object)."""
    flavor = request.get('flavor') or {}
    image = request.get('image') or {}
    specs = flavor.get('extra_specs') or {}
    props = image.get('properties') or {}
    if not (dict_values_are_text(specs) and dict_values_are_text(props)):
        return None
    return flt.request(specs, props)


@tap.case
def golden_translations_match_the_cli():
    n = 0
    for fname, c in golden_cases():
        flt = filter_for(c['profile'], c['strict'])
        req = bindings.Request(flt.lib)
        req.parse_json(json.dumps(c['request']))
        got = as_output(flt.translate(req))
        assert got == c['expect'], '%s %s: got %r, expected %r' % (fname, c['name'], got, c['expect'])
        n += 1
    assert n > 50, 'only %d golden cases found in %s' % (n, DATA)


@tap.case
def golden_translations_match_when_set_key_by_key():
    n = 0
    for fname, c in golden_cases():
        flt = filter_for(c['profile'], c['strict'])
        req = by_keys(flt, c['request'])
        if req is None:
            continue
        expect = c['expect']
        got = as_output(flt.translate(req))
        # Messages may name the flavor or image, which set_* does not know.
        if expect['result'] == 'reject':
            assert got['code'] == expect['code'], '%s %s: %r' % (fname, c['name'], got)
        else:
            assert got == expect, '%s %s: got %r, expected %r' % (fname, c['name'], got, expect)
        n += 1
    assert n > 30, 'only %d cases set key by key' % n


@tap.case
def required_traits_agrees_with_translate():
    for _fname, c in golden_cases():
        flt = filter_for(c['profile'], c['strict'])
        req = bindings.Request(flt.lib)
        req.parse_json(json.dumps(c['request']))
        tr = flt.translate(req)
        assert flt.required_traits(req) == (tr.accepted, tr.required, tr.code), c['name']


@tap.case
def trait_names_are_the_catalogue():
    flt = filter_for('current', False)
    assert flt.trait_names((1 << len(bindings.TRAIT_NAMES)) - 1) == list(bindings.TRAIT_NAMES)


@tap.case
def a_request_can_be_reset_and_reused():
    flt = filter_for('legacy', False)
    req = flt.request({'hw:tpm_version': '1.2'})
    assert flt.required_traits(req)[1] == 1 << 0
    req.reset()
    req.set_image_property('hw_tpm_version', '2.0')
    assert flt.required_traits(req)[1] == 1 << 1


@tap.case
def unknown_profile_is_refused():
    try:
        vtpm_placement.Filter('zed', False, bindings.load_filter_library(FILTER_LIB))
    except ValueError as exc:
        assert 'zed' in str(exc)
    else:
        raise AssertionError('profile zed accepted')


def expect_load_error(loader, path, *words):
    tap.raises(vtpm_placement.LibraryError, lambda: loader(path), path, *words)


@tap.case
def a_missing_filter_library_fails_with_its_path():
    expect_load_error(bindings.load_filter_library, '/nonexistent/libvtpm-filter.so.0',
                      'No such file')


@tap.case
def a_relative_library_path_is_refused():
    expect_load_error(bindings.load_filter_library, 'lib/libvtpm-filter.so.0', 'absolute')


@tap.case
def a_file_that_is_no_library_fails_with_its_path():
    expect_load_error(bindings.load_filter_library, os.path.abspath(__file__))


@tap.case
def the_inventory_library_is_not_the_filter_library():
    if not INVENTORY_LIB:
        return
    bindings.load_inventory_library(INVENTORY_LIB)
    # libvtpm-inventory lacks the filter's symbols: named, not a crash at first use.
    expect_load_error(bindings.load_filter_library, INVENTORY_LIB, 'has no symbol vtpm_')
    expect_load_error(bindings.load_inventory_library, '/nonexistent/libvtpm-inventory.so.0')


@tap.case
def a_bad_dsn_fails_without_showing_a_password():
    if not INVENTORY_LIB:
        return
    lib = bindings.load_inventory_library(INVENTORY_LIB)
    try:
        vtpm_placement.Inventory('host=/nonexistent password=hunter2 dbname=vtpm', lib)
    except vtpm_placement.VTPMError as exc:
        assert 'hunter2' not in str(exc), str(exc)
        assert exc.status in ('unreachable', 'database'), exc.status
    else:
        raise AssertionError('opened an inventory on no server')


@tap.case
def check_many_takes_16_bytes_per_host_and_a_closed_inventory_knows_none():
    if not INVENTORY_LIB:
        return
    # An Inventory whose handle is gone (closed): the library's NULL
    # inventory, which holds nothing.
    inv = bindings.Inventory.__new__(bindings.Inventory)
    inv.lib = bindings.load_inventory_library(INVENTORY_LIB)
    inv.handle = None
    assert inv.check_many(bytes(32), 1 << 1) == bytearray([bindings.CHECK_UNKNOWN] * 2)
    assert inv.check_many(b'', 1 << 1) == bytearray()
    tap.raises(ValueError, lambda: inv.check_many(bytes(17), 1), '16 bytes per host')


tap.run()
