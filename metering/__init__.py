"""Metering: pollsters, collector and accounting."""
