"""Pure deployment vocabulary: phases, checklist, gates, canary math, events.

Nothing in this package does I/O or imports a UI toolkit.
"""
