# SPDX-License-Identifier: Apache-2.0
"""Prints where to install a pure package under PREFIX so that this Python finds it."""
import sys


def main(prefix, default):
    if default in sys.path:
        return default
    under = prefix.rstrip('/') + '/'
    for path in sys.path:
        if path.startswith(under) and path.endswith(('/dist-packages', '/site-packages')):
            return path
    return default


if __name__ == '__main__':
    print(main(sys.argv[1], sys.argv[2]))
