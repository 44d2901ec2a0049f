"""cloud-compute: one agent per hypervisor, driving libvirt."""
