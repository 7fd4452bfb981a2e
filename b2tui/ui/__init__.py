"""The Textual control room: shows a :class:`~b2tui.engine.api.RunSession` and forwards
the operator's intents to it. Every decision stays in the engine."""
