"""Helpers shared by the tests: real services on loopback, free ports."""
