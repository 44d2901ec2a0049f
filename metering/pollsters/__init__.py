"""Metering's client side in the compute agents: guest counters into samples, samples onto the broker.

The compute agent reads the counters through its driver and hands them over
as plain data; nothing here touches libvirt or the agent's internals, and
the agent imports nothing else of metering.
"""
