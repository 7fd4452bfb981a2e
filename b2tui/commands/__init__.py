"""Command-line subcommands other than the TUI (``b2tui gates`` …)."""
