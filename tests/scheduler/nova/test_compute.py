# SPDX-License-Identifier: Apache-2.0
"""VTPMLibvirtDriver in python3-nova: a real provider tree, a real libvirtd (qemu:///system), the built reporter."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

try:
    import nova.monkey_patch  # noqa: F401  (as nova-compute runs: eventlet first)
except ImportError as exc:
    tap.skip('needs python3-nova for /usr/bin/python3: %s' % exc)

import atexit  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

REPORTER = sys.argv[1]
SOURCE_ROOT = os.environ['VTPM_SOURCE_ROOT']
LIBVIRTD = os.path.join(SOURCE_ROOT, 'tests', 'fixtures', 'libvirtd.sh')
# The driver module Nova finds as "nova.virt.vtpm_libvirt" once installed.
NOVA_VIRT_SHIM = os.path.join(SOURCE_ROOT, 'scheduler', 'nova', 'nova_virt')
T_1_2, T_2_0 = 'COMPUTE_SECURITY_TPM_1_2', 'COMPUTE_SECURITY_TPM_2_0'

try:
    import libvirt  # noqa: F401
    from nova import objects
    from nova.compute import provider_tree
    import nova.virt
    from nova.virt import driver as virt_driver
    from nova.virt import fake
    from nova.virt.libvirt import driver as libvirt_driver
except ImportError as exc:
    tap.skip('needs python3-nova and python3-libvirt for /usr/bin/python3: %s' % exc)

objects.register_all()
from oslo_config import cfg  # noqa: E402

CONF = cfg.CONF
CONF([], project='nova', default_config_files=[])
nova.virt.__path__.append(NOVA_VIRT_SHIM)
from vtpm_placement import compute  # noqa: E402

# Children (libvirtd's fixture, the reporter) get neither the sanitizers'
# preload meant for this interpreter nor its options.
CHILD_ENV = dict((k, v) for k, v in os.environ.items()
                 if k not in ('LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'))
TMP = tempfile.mkdtemp(prefix='vtpm-compute-')
os.chmod(TMP, 0o755)
RESULT = os.path.join(TMP, 'state', 'last-result.json')


def _libvirtd(cmd):
    return subprocess.run([LIBVIRTD, cmd, os.path.join(TMP, 'libvirtd.state')], env=CHILD_ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)


def _cleanup():
    _libvirtd('stop')
    shutil.rmtree(TMP, ignore_errors=True)


started = _libvirtd('start')
if started.returncode != 0:
    shutil.rmtree(TMP, ignore_errors=True)
    tap.skip('libvirtd on qemu:///system: %s' % started.stdout.strip().replace('\n', ' '))
atexit.register(_cleanup)

CONF.set_override('connection_uri', 'qemu:///system', group='libvirt')
CONF.set_override('virt_type', 'qemu', group='libvirt')
CONF.set_override('swtpm_enabled', True, group='libvirt')
os.mkdir(os.path.join(TMP, 'instances'))
CONF.set_override('instances_path', os.path.join(TMP, 'instances'))
CONF.set_override('result_file', RESULT, group='vtpm')


class LogLines(logging.Handler):
    """The driver's log lines, to check what an operator is told."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


LOG_LINES = LogLines()
logging.getLogger('vtpm_placement.compute').addHandler(LOG_LINES)
logging.getLogger('vtpm_placement.compute').setLevel(logging.DEBUG)


def load_driver(name='vtpm_libvirt.VTPMLibvirtDriver'):
    """The driver as nova-compute loads [DEFAULT] compute_driver."""
    return virt_driver.load_compute_driver(fake.FakeVirtAPI(), name)


DRIVER = load_driver()
NODE = DRIVER._host.get_hostname()
NODE_UUID = str(uuid.uuid4())


def tree_tpm_traits(driver, present=()):
    """The TPM traits of a fresh provider tree that had @present, after
    the driver's update_provider_tree."""
    tree = provider_tree.ProviderTree()
    tree.new_root(NODE, NODE_UUID)
    tree.add_traits(NODE, *present)
    driver.update_provider_tree(tree, NODE)
    return set(t for t in tree.data(NODE).traits if t.startswith('COMPUTE_SECURITY_TPM_'))


def run_reporter():
    """`vtpm-reporter run` on this host, publishing to an inventory that
    does not answer: last-result.json is written before publishing."""
    config = os.path.join(TMP, 'reporter.yaml')
    with open(config, 'w') as f:
        f.write('uri: qemu:///system\nvirt_type: qemu\nswtpm_enabled: true\n'
                'host: %s\nprovider_uuid: %s\n'
                'key_manager:\n  backend: barbican\n  url: http://127.0.0.1:9311\n'
                'cache_dir: %s/cache\nlock_file: %s/run.lock\nstate_dir: %s/state\n'
                'retries: 0\npostgres:\n  dsn: "host=127.0.0.1 port=1 dbname=none '
                'connect_timeout=2"\n' % (NODE, NODE_UUID, TMP, TMP, TMP))
    os.chmod(config, 0o600)
    return subprocess.run([REPORTER, 'run', '--no-delay', '--config', config], env=CHILD_ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=180)


def load_result():
    with open(RESULT) as f:
        return json.load(f)


def write_result(doc, mode=0o644):
    tmp = RESULT + '.new'
    with open(tmp, 'w') as f:
        json.dump(doc, f)
    os.chmod(tmp, mode)
    os.replace(tmp, RESULT)


def set_present(doc, **present):
    for short, on in present.items():
        trait = doc['traits']['COMPUTE_SECURITY_TPM_' + short[1:]]
        trait['present'] = on
        trait['reason_code'] = 'ok' if on else 'test_absent'
    return doc


@tap.case
def test_nova_loads_the_driver_by_its_compute_driver_name():
    assert isinstance(DRIVER, compute.VTPMLibvirtDriver)
    assert isinstance(DRIVER, libvirt_driver.LibvirtDriver)
    # the package path alone is not a name Nova can load
    try:
        load_driver('vtpm_placement.compute.VTPMLibvirtDriver')
    except SystemExit:
        pass
    else:
        raise AssertionError('nova.virt.vtpm_placement loaded')


@tap.case
def test_provider_tree_carries_the_reporter_traits():
    done = run_reporter()
    assert done.returncode == 5, done.stdout        # probed, then unreachable
    doc = load_result()
    assert doc['host'] == NODE and doc['provider_uuid'] == NODE_UUID, doc
    want = set(t for t in (T_1_2, T_2_0) if doc['traits'][t]['present'])
    print('# reporter: %s' % ', '.join('%s %s' % (t, doc['traits'][t]['reason_code'])
                                       for t in (T_1_2, T_2_0)))
    got = tree_tpm_traits(DRIVER, present=(T_1_2, T_2_0))
    assert got == want, (got, want, doc['traits'])
    # the same with nothing asserted before
    assert tree_tpm_traits(DRIVER) == want


@tap.case
def test_a_host_whose_swtpm_lacks_1_2_does_not_get_tpm_1_2_back():
    if not os.path.exists(RESULT):
        run_reporter()
    doc = set_present(load_result(), v1_2=False, v2_0=True)
    doc['traits'][T_1_2]['reason_code'] = 'swtpm_no_tpm_1_2'
    doc['traits'][T_1_2]['reason'] = 'swtpm was built without TPM 1.2'
    doc['time'] = int(time.time())
    write_result(doc)
    assert CONF.libvirt.swtpm_enabled
    # Nova alone: both, from swtpm_enabled
    plain = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI())
    assert tree_tpm_traits(plain) == {T_1_2, T_2_0}
    # with the reporter's result: TPM_1_2 is taken away, and stays away
    assert tree_tpm_traits(DRIVER, present=(T_1_2, T_2_0)) == {T_2_0}
    assert tree_tpm_traits(DRIVER) == {T_2_0}


@tap.case
def test_traits_follow_the_result_on_every_update():
    doc = set_present(load_result(), v1_2=True, v2_0=True)
    doc['time'] = int(time.time())
    write_result(doc)
    tree = provider_tree.ProviderTree()
    tree.new_root(NODE, NODE_UUID)
    DRIVER.update_provider_tree(tree, NODE)
    assert {T_1_2, T_2_0} <= tree.data(NODE).traits
    write_result(set_present(doc, v1_2=False, v2_0=False))
    DRIVER.update_provider_tree(tree, NODE)
    assert not ({T_1_2, T_2_0} & tree.data(NODE).traits), tree.data(NODE).traits
    assert DRIVER.static_traits[T_1_2] is False


def _expect_no_tpm_trait(reason):
    """With the result as it is now: no TPM trait, and a warning naming the
    file and @reason."""
    LOG_LINES.lines.clear()
    DRIVER._vtpm_last_problem = None
    assert tree_tpm_traits(DRIVER, present=(T_1_2, T_2_0)) == set()
    warnings = [m for lvl, m in LOG_LINES.lines if lvl == logging.WARNING]
    assert warnings and RESULT in warnings[0] and reason in warnings[0], LOG_LINES.lines


@tap.case
def test_an_untrusted_result_asserts_no_tpm_trait():
    good = set_present(load_result(), v1_2=True, v2_0=True)
    good['time'] = int(time.time())
    os.unlink(RESULT)
    _expect_no_tpm_trait('No such file or directory')
    with open(RESULT, 'w') as f:
        f.write('{"format": 1, "time": ')
    _expect_no_tpm_trait('not JSON')
    write_result(dict(good, format=2))
    _expect_no_tpm_trait('not a vtpm-reporter result of format 1')
    write_result(dict(good, time=int(time.time()) - 7200))
    _expect_no_tpm_trait('more than result_max_age 3600')
    write_result(dict(good, time=int(time.time()) + 3600))
    _expect_no_tpm_trait('in the future')
    write_result(dict(good, provider_uuid=str(uuid.uuid4())))
    _expect_no_tpm_trait("not this node's %s" % NODE_UUID)
    broken = json.loads(json.dumps(good))
    del broken['traits'][T_2_0]
    write_result(broken)
    _expect_no_tpm_trait('no answer for ' + T_2_0)
    write_result(good, mode=0o664)
    _expect_no_tpm_trait('group or others can write it')
    write_result(good)
    os.chmod(os.path.dirname(RESULT), 0o777)
    _expect_no_tpm_trait('group or others can write its folder')
    os.chmod(os.path.dirname(RESULT), 0o755)
    elsewhere = os.path.join(TMP, 'elsewhere.json')
    write_result(good)
    os.replace(RESULT, elsewhere)
    os.symlink(elsewhere, RESULT)
    _expect_no_tpm_trait('a symbolic link')
    os.unlink(RESULT)
    # and back: a good result is used again, with one line saying so
    write_result(good)
    LOG_LINES.lines.clear()
    DRIVER._vtpm_last_problem = 'before'
    assert tree_tpm_traits(DRIVER) == {T_1_2, T_2_0}
    assert any(lvl == logging.INFO and 'usable again' in m for lvl, m in LOG_LINES.lines)


@tap.case
def test_a_lasting_problem_warns_once():
    os.unlink(RESULT)
    LOG_LINES.lines.clear()
    DRIVER._vtpm_last_problem = None
    for _ in range(3):
        assert tree_tpm_traits(DRIVER) == set()
    assert len([1 for lvl, _ in LOG_LINES.lines if lvl == logging.WARNING]) == 1, LOG_LINES.lines


if __name__ == '__main__':
    tap.run()
