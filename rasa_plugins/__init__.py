"""Code that runs inside the Rasa server (.venv-rasa, Python 3.10): our tracker store, lock store
and channels, and the fenced patches that make Rasa cheaper to run.

Rasa loads the stores and channels by module path from `endpoints.yml` and `credentials.yml`,
which `bot up` writes (see bot/stack/plan.py): its own extension points. The patches of `speedups`
replace parts of Rasa itself; `patches` fences them (the versions each was written for, a switch
each, an undo), and `serve` puts them in place before Rasa starts. They import only the standard
library, Rasa and its dependencies, and the dependency-free parts of the bot package
(bot.inbound, bot.privacy, bot.heap).
"""
