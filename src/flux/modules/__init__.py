"""Broker modules that ship with pureflux."""
