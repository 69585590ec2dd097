# SPDX-License-Identifier: Apache-2.0
"""compute_driver = vtpm_libvirt.VTPMLibvirtDriver (Nova imports "nova.virt." + the value).

Installed in Nova's nova/virt/ folder: the driver itself is
vtpm_placement.compute.VTPMLibvirtDriver (see docs/nova.md).
"""
from vtpm_placement.compute import VTPMLibvirtDriver  # noqa: F401
