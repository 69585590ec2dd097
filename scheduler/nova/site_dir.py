# SPDX-License-Identifier: Apache-2.0
"""Prints where to install a pure package under PREFIX so that this Python finds it."""
import os
import sys


def main(prefix, default):
    # Meson's folder may end in '/', sys.path's never do: for prefix /usr a
    # plain comparison missed /usr/lib/python3/dist-packages and the loop
    # below took /usr/local/... (which starts with '/usr/').
    default = os.path.normpath(default)
    if default in sys.path:
        return default
    under = prefix.rstrip('/') + '/'
    for path in sys.path:
        if path.startswith(under) and path.endswith(('/dist-packages', '/site-packages')):
            return path
    return default


if __name__ == '__main__':
    print(main(sys.argv[1], sys.argv[2]))
