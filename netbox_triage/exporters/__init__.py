"""Exports: pure functions from device/VM querysets to text (ssh_config, …); the doors live elsewhere."""
