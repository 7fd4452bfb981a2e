"""Adapters: the ports of :mod:`b2tui.ports` implemented against the world."""
