"""Panels of the control room, one widget per module."""
