"""Rasa custom actions: thin adapters over the bot library, run by the rasa-sdk action server."""
