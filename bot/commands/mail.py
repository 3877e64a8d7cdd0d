"""`bot mail ...`: run the mail worker, list the outbox, retry an email that failed."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.commands.common import JsonOption, fail, get_settings, out, print_json

mail_app = typer.Typer(help="Email: the outbox and the mail worker.", no_args_is_help=True)


def _outbox():
    from bot.handoff.db import create_db_engine, migrate
    from bot.mail.mailer import open_outbox

    settings = get_settings()
    engine = create_db_engine(settings.queue_url)
    migrate(engine)
    return open_outbox(settings, engine)


@mail_app.command("worker")
def worker() -> None:
    """Send the outbox's emails through smtp_url until stopped (`bot up` runs it)."""
    from bot.mail.service import serve_worker
    from bot.mail.worker import check_smtp_url

    settings = get_settings()
    problem = check_smtp_url(settings.smtp_url)
    if problem:
        raise fail(problem)
    serve_worker(settings)


@mail_app.command("list")
def list_emails(
    status: Annotated[
        str | None, typer.Option(help="Only emails in this status: queued, sending, sent, failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest emails of the outbox, with their tries and last error."""
    if status not in (None, "queued", "sending", "sent", "failed"):
        raise fail(f"unknown status '{status}': use queued, sending, sent or failed")
    emails = _outbox().list(status, limit)
    if as_json:
        print_json([e.to_dict() for e in emails])
        return
    for e in emails:
        error = f" — {e.last_error}" if e.last_error else ""
        out.print(
            f"#{e.id} {e.status:<7} {e.kind:<16} tries {e.attempts} to "
            f"{', '.join(e.recipients)}: {e.subject}{error}",
            markup=False,
        )


@mail_app.command("retry")
def retry(email_id: Annotated[int, typer.Argument(help="The failed email's number.")]) -> None:
    """Send a failed email again now (after fixing what made it fail)."""
    if not _outbox().retry(email_id):
        raise fail(f"email {email_id} is not a failed email (see `bot mail list --status failed`)")
    out.print(f"email {email_id} queued again")


@mail_app.command("inbound-url")
def inbound_url(as_json: JsonOption = False) -> None:
    """The URL (with its token) to give the inbound-parse service, so agents' emailed replies
    reach the chat; needs inbound_mail_domain and public_url."""
    from bot.mail.inbound import inbound_token
    from bot.mail.mailer import inbound_secret

    settings = get_settings()
    if not settings.inbound_mail_domain:
        raise fail("inbound_mail_domain is not set (see docs/operations.md, 'Email')")
    url = (
        f"{settings.public_url.rstrip('/')}/api/mail/inbound"
        f"?token={inbound_token(inbound_secret(settings))}"
    )
    if as_json:
        print_json({"url": url, "domain": settings.inbound_mail_domain})
        return
    out.print(url, markup=False)
