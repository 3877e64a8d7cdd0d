"""The `bot` command line: assembles one sub-command per noun from bot/commands/."""

from __future__ import annotations

import typer

from bot.commands import docs, serving
from bot.commands.catalog import catalog_app
from bot.commands.eval import eval_app
from bot.commands.handoff import handoff_app
from bot.commands.insights import insights_app
from bot.commands.kb import kb_app
from bot.commands.mail import mail_app

app = typer.Typer(
    help="Tier-0 support bot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold customer data or tokens
)
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(handoff_app, name="handoff")
app.add_typer(insights_app, name="insights")
app.add_typer(mail_app, name="mail")
app.add_typer(catalog_app, name="catalog")
app.command("train")(serving.train)
app.command("up")(serving.up)
app.command("serve")(serving.serve)
app.command("docs")(docs.docs)


def main() -> None:
    """Entry point of the `bot` command."""
    app()


if __name__ == "__main__":
    main()
