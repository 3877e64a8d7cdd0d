"""Tier-0 customer-support bot: knowledge base, dialogue adapters, handoff queue and web app."""

__version__ = "0.1.0"
