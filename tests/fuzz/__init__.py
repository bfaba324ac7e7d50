"""Fuzzing of pureflux's parsers of untrusted input (issue: reliability and security)."""
