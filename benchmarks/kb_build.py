"""Embedding speed and index builds: query encode time, build throughput, one-article updates.

A synthetic KB of --articles articles (default 10,000) is generated from templates: each has a
title, an opening paragraph and two sections, about 120 words, on store-like topics. The initial
full build gives the build throughput; then one article is edited and the index rebuilt several
times, with the model already loaded (the in-process time, as a long-running indexer sees it)
and once through the CLI (a fresh process: Python, torch and the model load first).

    .venv/bin/python benchmarks/kb_build.py --articles 10000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from bot.kb.builder import BuildOptions, build_index  # noqa: E402
from bot.kb.chunker import ChunkConfig  # noqa: E402
from bot.kb.embedder import Embedder  # noqa: E402
from bot.stack import child_env  # noqa: E402

THINGS = "order parcel refund voucher gift card invoice account password address return "
THINGS += "exchange warranty subscription delivery slot basket discount code receipt review"
ACTIONS = "change cancel track find update delete check extend split move pause restore"
PLACES = "the app, the website, your account page, the order email, the help centre, a store"
QUERIES = [
    "how do I cancel my order",
    "where is my parcel",
    "can I change the delivery address",
    "my discount code does not work",
    "how long does a refund take",
]


def article(number: int, rng: random.Random, revision: int = 0) -> str:
    things, actions, places = THINGS.split(), ACTIONS.split(), PLACES.split(", ")
    thing, action, place = rng.choice(things), rng.choice(actions), rng.choice(places)
    other = rng.choice(things)
    return (
        f"---\ntitle: How do I {action} a {thing} (case {number})?\nid: a{number:05d}\n---\n\n"
        f"You can {action} a {thing} from {place} until it ships. It takes a minute and you "
        f"get an email when it is done.\n\n## Steps\n\n1. Open {place}.\n2. Choose the {thing}.\n"
        f"3. Select **{action.title()}** and confirm.\n\n## If it does not work\n\n"
        f"If the {thing} is linked to a {other}, {action} the {other} first. Still stuck? "
        f"Ask us in the chat and we will {action} it for you (revision {revision}).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument(
        "--reuse", type=Path, help="A folder of an earlier run (kb/, index/): no full build."
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/kb_build.json")
    args = parser.parse_args()

    embedder = Embedder()
    for q in QUERIES:
        embedder.encode_query(q)  # warm
    times = []
    for i in range(200):
        start = time.perf_counter()
        embedder.encode_query(f"{QUERIES[i % len(QUERIES)]} {i}")
        times.append((time.perf_counter() - start) * 1000)
    query = {"p50_ms": round(statistics.median(times), 2),
             "p95_ms": round(statistics.quantiles(times, n=20)[-1], 2)}  # fmt: skip
    print("query encode", query, flush=True)

    folder = args.reuse or Path(tempfile.mkdtemp(prefix="bot-kb-bench-"))
    kb, index = folder / "kb", folder / "index"
    rng = random.Random(11)
    options = BuildOptions(
        kb, index, "http://localhost:8080/help/", "all-MiniLM-L6-v2", ChunkConfig()
    )
    build = {}
    if args.reuse is None:
        kb.mkdir()
        for n in range(args.articles):
            (kb / f"a{n:05d}.md").write_text(article(n, rng))
        start = time.perf_counter()
        full = build_index(options, embedder_factory=lambda name: embedder)
        full_s = time.perf_counter() - start
        manifest = json.loads(next(index.glob("versions/*/manifest.json")).read_text())
        vectors = manifest["counts"]["vectors"]
        build = {
            "articles": full.articles,
            "vectors": vectors,
            "seconds": round(full_s, 1),
            "vectors_per_s": round(vectors / full_s, 1),
        }
        print(
            f"full build: {full.articles} articles, {vectors} vectors, {full_s:.1f} s", flush=True
        )
    else:
        build_index(options, embedder_factory=lambda name: embedder)  # as after any build

    updates = []
    for _ in range(args.updates):
        target = rng.randrange(args.articles)
        (kb / f"a{target:05d}.md").write_text(
            article(target, random.Random(target), time.time_ns())
        )
        start = time.perf_counter()
        report = build_index(options, embedder_factory=lambda name: embedder)
        updates.append(time.perf_counter() - start)
        assert report.embedded_articles == [f"a{target:05d}"], report.embedded_articles
    print("one-article updates (s):", [round(u, 2) for u in updates], flush=True)

    (kb / "a00001.md").write_text(article(1, random.Random(1), time.time_ns()))
    start = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/bot"), "kb", "build", "--kb", str(kb), "--index", str(index)],
        check=True,
        capture_output=True,
        env=child_env({"BOT_SETTINGS_FILE": str(folder / "none.toml")}),
    )
    cli_s = time.perf_counter() - start

    result = {
        "query_encode": query,
        **({"build": build} if build else {}),
        "one_article_update": {
            "in_process_median_s": round(statistics.median(updates), 3),
            "in_process_max_s": round(max(updates), 3),
            "cli_wall_s": round(cli_s, 2),
        },
        "kb": f"synthetic, {args.articles} template articles (see docstring)",
    }
    save(
        result,
        f"python benchmarks/kb_build.py --articles {args.articles}"
        + (f" --reuse {args.reuse}" if args.reuse else ""),
        args.out,
    )


if __name__ == "__main__":
    main()
