"""`bot catalog ...`: sync the product catalogue from the store's feed, show its state, search."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.commands.common import JsonOption, err, fail, get_settings, out, print_json

catalog_app = typer.Typer(
    help="Product catalogue: sync from the store's Merchant feed, status, search.",
    no_args_is_help=True,
)


@catalog_app.command("sync")
def catalog_sync(
    feed: Annotated[
        str | None,
        typer.Argument(help="Feed path or http(s) address (default: settings' catalog_feed)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sync now: only new or changed products are embedded; prints what changed."""
    from bot.catalog.sync import SyncFailed, sync
    from bot.kb.embedder import ModelNotAvailable

    settings = get_settings()
    source = feed or settings.catalog_feed
    if not source:
        raise fail("no feed: give one, or set catalog_feed (BOT_CATALOG_FEED)")
    try:
        report = sync(sync_options(settings, source))
    except SyncFailed as exc:
        raise fail(f"{exc}; the last good catalogue keeps serving") from exc
    except ModelNotAvailable as exc:
        raise fail(str(exc)) from exc
    notified = _notify(settings)
    if as_json:
        print_json(report.to_dict() | {"alerts": notified.to_dict() if notified else None})
        return
    for problem in report.problems:
        err.print(f"{source}:{problem.line}: skipped: {problem}", markup=False)
    state = "published version " + str(report.version) if report.published else "no change"
    out.print(
        f"{report.products} products, {report.variants} variants: {len(report.added)} added, "
        f"{len(report.changed)} changed, {len(report.removed)} removed, {report.unchanged} "
        f"unchanged; {report.embedded} embedded; {len(report.problems)} items skipped; "
        f"{state} ({report.seconds:.1f} s)"
    )
    for kind, ids in (("added", report.added), ("changed", report.changed)):
        if ids:
            shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
            out.print(f"  {kind}: {shown}")
    if report.removed:
        out.print(f"  removed: {', '.join(report.removed[:10])}")
    if notified and (notified.sent or notified.waiting):
        out.print(
            f"back-in-stock alerts: {len(notified.sent)} emails queued, {notified.waiting} "
            "still waiting"
        )


def _notify(settings):
    """Email the confirmed back-in-stock alerts whose variant the catalogue has in stock now;
    None (logged) when the handoff database cannot be reached: the next sync tries again."""
    from bot.catalog.alert_mail import AlertMailer

    try:
        return AlertMailer.from_settings(settings, _engine(settings)).notify(settings.catalog_dir)
    except Exception as exc:  # the sync itself succeeded; the alerts wait for the next one
        err.print(f"back-in-stock alerts not sent this time: {exc}", markup=False)
        return None


def _engine(settings):
    from bot.handoff.db import create_db_engine, migrate

    engine = create_db_engine(settings.queue_url)
    migrate(engine)
    return engine


@catalog_app.command("alerts")
def catalog_alerts(
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Delete alerts past restock_retention_days and unconfirmed ones whose link "
            "expired.",
        ),
    ] = False,
    forget: Annotated[
        str | None,
        typer.Option("--forget", metavar="EMAIL", help="Delete every alert of this email address."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Back-in-stock alerts: how many in each state and the variants most waited for."""
    from bot.catalog.alerts import AlertStore

    settings = get_settings()
    store = AlertStore(_engine(settings))
    result: dict = {}
    if forget:
        result["forgotten"] = store.forget(forget)
    if purge:
        result["purged"] = store.purge(
            settings.restock_retention_days, settings.restock_confirm_days
        )
    result |= {"counts": store.counts(), "waiting": store.waiting()}
    if as_json:
        print_json(result)
        return
    if forget:
        out.print(f"deleted {result['forgotten']} alerts of {forget}", markup=False)
    if purge:
        out.print(f"purged {result['purged']} alerts")
    out.print(", ".join(f"{n} {status}" for status, n in result["counts"].items()))
    for row in result["waiting"]:
        variant = f" ({row['variant']})" if row["variant"] else ""
        out.print(f"  {row['waiting']} waiting for {row['title']}{variant} [{row['variant_id']}]")


@catalog_app.command("status")
def catalog_status(as_json: JsonOption = False) -> None:
    """The catalogue serving now and how the last sync went (and why it failed)."""
    from bot.catalog.store import read_status

    settings = get_settings()
    status = read_status(settings.catalog_dir)
    if status is None:
        raise fail(f"no sync yet in {settings.catalog_dir}/: run `bot catalog sync`")
    if as_json:
        print_json(status)
        return
    result = "ok" if status.get("ok") else f"FAILED: {status.get('reason')}"
    out.print(f"last sync {status.get('checked_at')} from {status.get('source')}: {result}")
    out.print(
        f"serving version {status.get('version')} ({status.get('products', '?')} products, "
        f"{status.get('variants', '?')} variants)"
    )
    for problem in status.get("problems") or []:
        out.print(f"  skipped {problem}", markup=False)


@catalog_app.command("search")
def catalog_search(
    question: Annotated[str, typer.Argument(help="A shopper's question.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=50)] = 5,
    as_json: JsonOption = False,
) -> None:
    """Search the catalogue as the bot does, with the filters the question states."""
    from bot.catalog.search import CatalogModelMismatch, ProductSearch
    from bot.catalog.store import CatalogNotFound

    settings = get_settings()
    try:
        search = ProductSearch(settings.catalog_dir, settings.embedding_model)
    except (CatalogNotFound, CatalogModelMismatch) as exc:
        raise fail(str(exc)) from exc
    result = search.search(question, limit=limit)
    if as_json:
        print_json(result.to_dict())
        return
    if result.filters.to_dict():
        out.print(f"filters: {result.filters.to_dict()}")
    for hit in result.hits:
        data = hit.to_dict()
        out.print(f"{hit.score:6.3f}  {data['title']}  {data['price']}  {data['link']}")
        for variant in data["variants"][:6]:
            out.print(f"        {variant['title']}: {variant['price']}, {variant['availability']}")
    if not result.hits:
        out.print("no product matches")


def sync_options(settings, source: str):
    """The sync options the settings describe."""
    from bot.catalog.sync import SyncOptions

    return SyncOptions(
        source=source,
        catalog_dir=settings.catalog_dir,
        model=settings.embedding_model,
        batch_size=settings.embedding_batch_size,
        max_bytes=settings.catalog_max_bytes,
        timeout=settings.catalog_timeout_seconds,
        keep_versions=settings.index_keep_versions,
    )
