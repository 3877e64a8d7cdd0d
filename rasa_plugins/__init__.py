"""Code that runs inside the Rasa server (.venv-rasa, Python 3.10): our tracker store and channels.

Rasa loads these by module path from `endpoints.yml` and `credentials.yml`, which `bot up` writes
(see bot/stack.py). They import only the standard library, Rasa, and the dependency-free parts of
the bot package (bot.inbound, bot.privacy).
"""
