"""b2tui: a terminal control room for monitoring-gated continuous deployment."""

__version__ = "0.1.0"
