"""Hypervisor drivers: the interface the agent uses, and its libvirt implementation."""
