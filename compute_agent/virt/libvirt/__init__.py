"""The libvirt driver: real QEMU/KVM hosts and the in-process test driver for simulated ones."""
