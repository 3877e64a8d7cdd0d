"""Dialogue decisions the Rasa actions delegate to: KB answers, flows' replies, handoff context."""
