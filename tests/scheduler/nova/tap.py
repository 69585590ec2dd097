# SPDX-License-Identifier: Apache-2.0
"""A TAP runner for the Python tests (no unittest, no pytest): cases, plan, skips."""
import os
import sys
import traceback

_cases = []


def _without_leak_check():
    """Under the sanitize setup the interpreter runs with the sanitizers'
    runtimes preloaded; the interpreter's own allocations at exit are not the
    libraries' leaks (their cmocka tests count those), so leak detection is
    turned off by running again with it off: ASan reads its options at start."""
    opts = os.environ.get('ASAN_OPTIONS', '')
    if os.environ.get('VTPM_TEST_PYTHON_ASAN') != '1' or 'detect_leaks=1' not in opts:
        return
    env = dict(os.environ, ASAN_OPTIONS=opts.replace('detect_leaks=1', 'detect_leaks=0'))
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


_without_leak_check()


def case(fn):
    """Registers @fn as a test case named after it."""
    _cases.append(fn)
    return fn


def require_all():
    """Whether a missing requirement fails (CI, scripts/test.sh) instead of skipping."""
    return os.environ.get('CI') == 'true' or os.environ.get('VTPM_TEST_REQUIRE_ALL') == '1'


def skip(why):
    """Ends the program: the TAP skip plan by hand, a failure where every test must run."""
    if require_all():
        print('Bail out! %s' % why)
        sys.exit(1)
    print('1..0 # SKIP %s' % why)
    sys.exit(0)


def run():
    """Runs every registered case in order; exit status 1 when one failed."""
    print('1..%d' % len(_cases), flush=True)
    failed = 0
    for i, fn in enumerate(_cases, 1):
        try:
            fn()
        except Exception:  # a failed case reports and the others still run
            failed += 1
            print('not ok %d - %s' % (i, fn.__name__))
            for line in traceback.format_exc().splitlines():
                print('# ' + line)
        else:
            print('ok %d - %s' % (i, fn.__name__))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)


def raises(kind, fn, *words):
    """Asserts that fn() raises @kind with every one of @words in its message."""
    try:
        fn()
    except kind as exc:
        for w in words:
            assert w in str(exc), '%r lacks %r' % (str(exc), w)
    else:
        raise AssertionError('%r raised nothing' % fn)
