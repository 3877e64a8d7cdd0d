"""The `bot` command's nouns, one module each; bot/cli.py assembles them into one command."""
