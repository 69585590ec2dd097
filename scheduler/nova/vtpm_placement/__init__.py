# SPDX-License-Identifier: Apache-2.0
"""vtpm_placement: libvtpm-filter and libvtpm-inventory from Python (ctypes only).

The Nova scheduler filter is vtpm_placement.nova_filter.VTPMFilter, the
nova-compute driver vtpm_placement.compute.VTPMLibvirtDriver; this package
itself imports nothing outside the standard library.
"""
from vtpm_placement.bindings import (  # noqa: F401
    FILTER_SONAME,
    INVENTORY_SONAME,
    TRAIT_NAMES,
    Filter,
    Inventory,
    LibraryError,
    Request,
    Translation,
    VTPMError,
    load_filter_library,
    load_inventory_library,
    trait_names,
)
