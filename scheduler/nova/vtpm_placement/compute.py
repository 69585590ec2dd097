# SPDX-License-Identifier: Apache-2.0
"""VTPMLibvirtDriver: Nova's libvirt driver, with the TPM traits vtpm-reporter found.

Nova's libvirt driver asserts the COMPUTE_SECURITY_TPM_* traits from
[libvirt] swtpm_enabled alone (Zed) or from swtpm_enabled and libvirt's
domain capabilities (2024.2 and later), on every periodic update of the
provider tree. This subclass asserts the traits of vtpm-reporter's last
concluded probe on this host instead, read from its last-result.json, and
asserts none when that file cannot be trusted.

nova.conf of the compute host:
    [DEFAULT]
    compute_driver = vtpm_libvirt.VTPMLibvirtDriver
    [vtpm]
    result_file = /var/lib/vtpm-placement/last-result.json
    result_max_age = 3600

Nova loads compute_driver as "nova.virt." + the value, so the class is
reached through the module nova/virt/vtpm_libvirt.py that meson installs
next to Nova's own drivers.
"""
import errno
import json
import logging
import os
import stat
import time

from oslo_config import cfg

import os_traits

from nova.virt.libvirt import driver as libvirt_driver

from vtpm_placement import bindings

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

RESULT_FORMAT = 1
RESULT_MAX_BYTES = 64 * 1024
# The reporter and nova-compute share the host's clock: a result from the
# future is a clock set back, tolerated only this far.
FUTURE_SLACK = 60

opts = [
    cfg.StrOpt('result_file', default='/var/lib/vtpm-placement/last-result.json',
               help='vtpm-reporter\'s last-result.json on this host (in its state_dir). '
                    'Its TPM traits replace those Nova derives from swtpm_enabled.'),
    cfg.IntOpt('result_max_age', default=3600, min=0,
               help='Seconds after which a result counts as too old: no TPM trait is '
                    'asserted then. 0: no limit.'),
]

CONF.register_opts(opts, group='vtpm')


def list_opts():
    """For oslo-config-generator."""
    return [('vtpm', opts)]


class ResultError(Exception):
    """The result file cannot be trusted; the message says why."""


def _read_own_file(path):
    """The bytes of @path: a regular file (not a symbolic link) that neither
    group nor others can write, in a folder they cannot write either (they
    could replace the file), of bounded size."""
    try:
        folder = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise ResultError('cannot open its folder: %s' % exc.strerror) from None
    if folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ResultError('group or others can write its folder')
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ResultError('cannot open: %s' % (
            'a symbolic link' if exc.errno == errno.ELOOP else exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ResultError('not a regular file')
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ResultError('group or others can write it')
        data = os.read(fd, RESULT_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > RESULT_MAX_BYTES:
        raise ResultError('larger than %d bytes' % RESULT_MAX_BYTES)
    return data


def read_result(path, max_age, provider_uuid=None, now=None):
    """The TPM traits of the reporter's result at @path: {name: present}.

    Raises ResultError when the file is missing, unreadable, not the
    reporter's format, older than @max_age seconds (0: any age), or names
    another provider than @provider_uuid (when both are known)."""
    try:
        doc = json.loads(_read_own_file(path))
    except ValueError as exc:
        raise ResultError('not JSON: %s' % exc) from None
    if not isinstance(doc, dict) or doc.get('format') != RESULT_FORMAT:
        raise ResultError('not a vtpm-reporter result of format %d' % RESULT_FORMAT)
    written = doc.get('time')
    traits = doc.get('traits')
    if isinstance(written, bool) or not isinstance(written, int) or not isinstance(traits, dict):
        raise ResultError('no time or no traits')
    recorded = doc.get('provider_uuid')
    if recorded and provider_uuid and str(recorded).lower() != str(provider_uuid).lower():
        raise ResultError('for provider %s, not this node\'s %s' % (recorded, provider_uuid))
    now = time.time() if now is None else now
    if written > now + FUTURE_SLACK:
        raise ResultError('written %d s in the future' % (written - now))
    if max_age and now - written > max_age:
        raise ResultError('%d s old, more than result_max_age %d' % (now - written, max_age))
    result = {}
    for name in bindings.TRAIT_NAMES:
        present = traits.get(name, {}).get('present') if isinstance(traits.get(name), dict) \
            else None
        if not isinstance(present, bool):
            raise ResultError('no answer for %s' % name)
        result[name] = present
    return result


class VTPMLibvirtDriver(libvirt_driver.LibvirtDriver):
    """LibvirtDriver whose TPM traits are vtpm-reporter's (see the module)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._vtpm_snapshot = None
        self._vtpm_last_problem = None

    def _vtpm_traits(self, provider_uuid=None):
        """The reporter's traits now, or every one False when its result
        cannot be trusted (fail closed: never swtpm_enabled's guess)."""
        path = CONF.vtpm.result_file
        try:
            traits = read_result(path, CONF.vtpm.result_max_age, provider_uuid)
        except ResultError as exc:
            problem = '%s' % exc
            # once per new problem, not on every periodic update
            log = LOG.warning if problem != self._vtpm_last_problem else LOG.debug
            log("vtpm-reporter result '%s' not usable (%s): asserting no TPM trait",
                path, problem)
            self._vtpm_last_problem = problem
            return dict((name, False) for name in bindings.TRAIT_NAMES)
        if self._vtpm_last_problem is not None:
            LOG.info("vtpm-reporter result '%s' usable again", path)
            self._vtpm_last_problem = None
        return traits

    def _get_tpm_traits(self):
        # Nova's own answer for TPM traits the reporter does not know (a
        # newer Nova's), the reporter's for the rest.
        traits = dict(super()._get_tpm_traits())
        traits.update(self._vtpm_snapshot if self._vtpm_snapshot is not None
                      else self._vtpm_traits())
        return traits

    @property
    def static_traits(self):
        # Nova computes static traits once per process; the TPM ones must
        # follow the reporter's file on every update.
        traits = dict(super().static_traits)
        tpm = self._get_tpm_traits()
        valid, _ = os_traits.check_traits(tpm)
        for name in valid:
            traits[name] = tpm[name]
        return traits

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        # One read of the file per update: static_traits is read twice.
        try:
            node_uuid = provider_tree.data(nodename).uuid
        except ValueError:
            node_uuid = None
        self._vtpm_snapshot = self._vtpm_traits(node_uuid)
        try:
            return super().update_provider_tree(provider_tree, nodename,
                                                allocations=allocations)
        finally:
            self._vtpm_snapshot = None
