"""Product catalogue at scale: first full sync, a sync with 1 % changed, product search latency.

A feed of --products products (default 100,000) is generated from the demo store's kinds of goods
(bot/catalog/demo.py) under made-up collection names, one or two variants each. Then:
1. a first full sync (every product embedded: the embedding model's throughput, model loaded first);
2. --changed of the products (default 1 %) get a new price or a new title, and the feed is synced
   again (only the retitled ones are embedded again);
3. --queries product questions (tests/catalog_questions.yml, round robin) are searched one at a
   time, with the question encoder the action server uses (ONNX), after a warm-up: p50/p95/p99.

    .venv/bin/python benchmarks/catalog.py --products 100000

A first full sync of 100,000 products takes long on a shared machine: `--workdir DIR --stage
first` does it once, `--workdir DIR --stage rest` then measures the rest against it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from bot.catalog import demo  # noqa: E402
from bot.catalog.search import ProductSearch  # noqa: E402
from bot.catalog.sync import SyncOptions, embedding_threads, sync  # noqa: E402
from bot.kb.embedder import Embedder  # noqa: E402
from bot.kb.encoder import load_query_encoder  # noqa: E402
from bot.settings import Settings  # noqa: E402

SYLLABLES = "ash bay bro cal dun elm fen gar hol ivy kel lor mar nor oak pen rav sil tor wil"


def collection(number: int) -> str:
    """A made-up collection name for product `number` (three syllables, capitalised)."""
    parts = SYLLABLES.split()
    a, b, c = number % 20, (number // 20) % 20, (number // 400) % 20
    return (parts[a] + parts[b] + parts[c]).capitalize() + (
        f" {number // 8000}" if number >= 8000 else ""
    )


def generate(count: int, seed: int = 7) -> list[list[dict]]:
    """count products, each one or two variants of a demo kind."""
    rng = random.Random(seed)
    groups = []
    for number in range(count):
        kind = demo.KINDS[number % len(demo.KINDS)]
        material = kind.materials[number % len(kind.materials)]
        words = [collection(number), material if kind.material_in_title else "", kind.name]
        title = " ".join(w for w in words if w)
        made = demo.variants(rng, kind, title, "", material, f"B{number:06d}")
        groups.append(made[: 1 + number % 2])
    return groups


def change(groups: list[list[dict]], share: float, seed: int = 11) -> int:
    """Give `share` of the products a new price (half) or a new title (the other half)."""
    rng = random.Random(seed)
    chosen = rng.sample(range(len(groups)), max(1, int(len(groups) * share)))
    for position, index in enumerate(chosen):
        for variant in groups[index]:
            if position % 2:
                amount = Decimal(variant["price"].split()[0]) + Decimal("1.00")
                variant["price"] = f"{amount:.2f} USD"
            else:
                variant["title"] = "Renewed " + variant["title"]
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--threads", type=int, default=embedding_threads(), help="torch threads")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the feed and catalogue here (default: a temporary folder); with --stage, "
        "the first sync's figures are kept there for the later stage",
    )
    parser.add_argument(
        "--stage",
        choices=["all", "first", "rest"],
        default="all",
        help="first: generate and sync in full only; rest: the changed sync and the searches "
        "over the catalogue a `first` stage left in --workdir",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/catalog.json")
    args = parser.parse_args()
    if args.stage != "all" and args.workdir is None:
        parser.error("--stage needs --workdir")
    if args.workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, Path(tmp))
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir)


def run(args: argparse.Namespace, folder: Path) -> None:
    settings = Settings(settings_file=Path("/nonexistent"))
    feed = folder / "feed.xml"
    options = SyncOptions(str(feed), folder / "catalog", settings.embedding_model, max_bytes=10**10)
    embedder = Embedder(settings.embedding_model, threads=args.threads)
    groups = generate(args.products)
    variants = sum(len(g) for g in groups)
    if args.stage in ("all", "first"):
        shutil.rmtree(folder / "catalog", ignore_errors=True)
        started = time.perf_counter()
        feed.write_text(demo.render(groups), encoding="utf-8")
        print(
            f"feed: {args.products} products, {variants} variants, "
            f"{feed.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        load_before = os.getloadavg()
        started, cpu = time.perf_counter(), time.process_time()
        report = sync(options, encoder=embedder)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        first = {
            "first_sync_seconds": round(seconds, 1),
            "first_sync_cpu_seconds": round(cpu, 1),
            "first_sync_products_per_second": round(args.products / seconds, 1),
            "first_sync_products_per_cpu_second": round(args.products / cpu, 1),
            "first_sync_embedded": report.embedded,
            "first_sync_threads": args.threads,
            "first_sync_load_average": [load_before, os.getloadavg()],
            "first_sync_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / "first.json").write_text(json.dumps(first, indent=2))
        print(f"first sync: {seconds:.0f} s ({cpu:.0f} s CPU)", file=sys.stderr)
        if args.stage == "first":
            return
    first = json.loads((folder / "first.json").read_text())
    changed = change(groups, args.changed)
    feed.write_text(demo.render(groups), encoding="utf-8")
    load_before = os.getloadavg()
    started, cpu = time.perf_counter(), time.process_time()
    second = sync(options, encoder=embedder)
    second_seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"sync with {changed} changed: {second_seconds:.1f} s", file=sys.stderr)
    encoder = load_query_encoder(settings.embedding_model, settings.encoder_dir)
    started = time.perf_counter()
    search = ProductSearch(folder / "catalog", settings.embedding_model, encoder=lambda: encoder)
    open_seconds = time.perf_counter() - started
    questions = [
        str(c["question"])
        for c in yaml.safe_load((ROOT / "tests/catalog_questions.yml").read_text())
    ]
    for question in questions[:20]:  # warm-up
        search.search(question)
    times = []
    by_question: dict[str, list[float]] = {}
    search_load = os.getloadavg()
    for number in range(args.queries):
        question = questions[number % len(questions)]
        begun = time.perf_counter()
        search.search(question)
        times.append((time.perf_counter() - begun) * 1000)
        by_question.setdefault(question, []).append(times[-1])
    search_load = [search_load, os.getloadavg()]
    # the tail's questions: the slowest by their median over their repetitions
    slowest = sorted(by_question.items(), key=lambda kv: -statistics.median(kv[1]))[:8]
    encode = []
    for question in questions[:50]:
        begun = time.perf_counter()
        encoder.encode_query(question)
        encode.append((time.perf_counter() - begun) * 1000)
    times.sort()
    result = {
        "products": args.products,
        "variants": variants,
        **first,
        "changed_products": changed,
        "changed_sync_seconds": round(second_seconds, 2),
        "changed_sync_cpu_seconds": round(cpu, 2),
        "changed_sync_load_average": [load_before, os.getloadavg()],
        "changed_sync_embedded": second.embedded,
        "changed_sync_report": {
            "added": len(second.added),
            "changed": len(second.changed),
            "removed": len(second.removed),
            "unchanged": second.unchanged,
        },
        "search_open_seconds": round(open_seconds, 2),
        "search_ms": {
            "p50": round(statistics.median(times), 2),
            "p95": round(times[int(len(times) * 0.95) - 1], 2),
            "p99": round(times[int(len(times) * 0.99) - 1], 2),
            "queries": len(times),
        },
        "search_load_average": search_load,
        "slowest_questions_median_ms": {q: round(statistics.median(t), 2) for q, t in slowest},
        "question_encode_ms_p50": round(statistics.median(encode), 2),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    command = f"benchmarks/catalog.py --products {args.products} --changed {args.changed}"
    if args.stage != "all":
        command += f" --workdir DIR --stage first, then --stage {args.stage}"
    save(result, command, args.out)


if __name__ == "__main__":
    main()
