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
    if as_json:
        print_json(report.to_dict())
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
