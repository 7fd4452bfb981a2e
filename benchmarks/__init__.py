"""Benchmarks that print the numbers behind b2tui's performance promises (``make bench``).

They are not tests: nothing here asserts on time. See ``benchmarks/README.md``.
"""
