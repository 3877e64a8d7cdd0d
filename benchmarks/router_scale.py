"""How the router's training and a save's refit scale with the number of articles.

benchmarks/kb_build.py's synthetic articles (parsed by the real loader, so their phrasings are
what `bot kb build` would take: the title and the telling headings) plus the NLU examples of
data/nlu/. For each size: `Router.train` (what `bot kb build` and the live indexer's exact
retrain run), `Router.refitted` for one saved article (a new one added, one removed: what a
writer's save runs) and the time to route one message. Wall and CPU seconds (the fits run on
one thread, so CPU seconds are what an idle machine would take). The phrasings' vectors are embedded
once and cached in --cache (by text), so a second run only trains.

    nice -n 10 .venv/bin/python benchmarks/router_scale.py --sizes 1000,3000,10000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS, save  # noqa: E402
from benchmarks.kb_build import QUERIES, article  # noqa: E402
from bot.kb.embedder import Embedder  # noqa: E402
from bot.kb.loader import parse_article  # noqa: E402
from bot.kb.router import (  # noqa: E402
    PER_ARTICLE_CLASSES_UP_TO,
    Router,
    article_phrasings,
    nlu_phrasings,
)


def synthetic_articles(count: int, folder: Path) -> list:
    """count synthetic articles, parsed as `bot kb build` parses them (plus one spare)."""
    rng = random.Random(11)
    found = []
    for n in range(count + 1):
        path = folder / f"a{n:05d}.md"
        path.write_text(article(n, rng))
        parsed, problems = parse_article(path, folder, "http://localhost/help/")
        assert parsed is not None, problems
        found.append(parsed)
    return found


def vectors_for(texts: list[str], cache: Path) -> dict[str, np.ndarray]:
    """Each text's vector, embedding only those the cache does not hold."""
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        known.update(zip(missing, Embedder().encode(missing, 64), strict=True))
        order = list(known)
        np.savez(cache, texts=np.array(order), vectors=np.stack([known[t] for t in order]))
    return known


def measure(size: int, articles: list, nlu: list, known: dict, up_to: int) -> dict:
    def stacked(phrasings):
        return np.stack([known[p.text] for p in phrasings]).astype(np.float32)

    phrasings = article_phrasings(articles[:size]) + nlu
    start, cpu = time.perf_counter(), time.process_time()
    router = Router.train(phrasings, stacked(phrasings), per_article_up_to=up_to)
    trained, trained_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{size}: trained in {trained:.1f} s ({trained_cpu:.1f} CPU-s)", flush=True)
    # a save: article 0 removed, a new article (the spare) added
    saved = article_phrasings(articles[1 : size + 1]) + nlu
    start, cpu = time.perf_counter(), time.process_time()
    refitted = router.refitted(saved, stacked(saved))
    refit, refit_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{size}: refitted in {refit:.2f} s ({refit_cpu:.2f} CPU-s)", flush=True)
    spare = articles[size]
    routes = []
    for q in [spare.title, *QUERIES, *QUESTIONS]:
        vector = known.get(q)
        if vector is None:
            continue
        begin = time.perf_counter()
        routing = refitted.route(q, vector)
        routes.append((time.perf_counter() - begin) * 1000)
        if q == spare.title:
            new_top = routing.top.label
    return {
        "articles": size,
        "labels": len(router.labels),
        "phrasings": len(phrasings),
        "train_s": round(trained, 2),
        "train_cpu_s": round(trained_cpu, 2),
        "refit_s": round(refit, 3),
        "refit_cpu_s": round(refit_cpu, 3),
        "article_classes": getattr(refitted, "article_classes", "one class per article"),
        "new_article_title_routes_to_it": new_top == f"article:{spare.id}",
        "route_median_ms": round(statistics.median(routes), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument(
        "--per-article-up-to",
        type=int,
        default=PER_ARTICLE_CLASSES_UP_TO,
        help="The router's setting (a large number: every article a class of the regressions).",
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router-scale-vectors.npz"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/router_scale.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        articles = synthetic_articles(max(sizes), Path(folder))
    nlu = nlu_phrasings(ROOT / "data" / "nlu")
    texts = [p.text for p in article_phrasings(articles) + nlu] + QUERIES + QUESTIONS
    known = vectors_for(texts, args.cache)
    up_to = args.per_article_up_to
    results = [measure(size, articles, nlu, known, up_to) for size in sizes]
    load = os.getloadavg()
    save(
        {"sizes": results, "load_average": [round(x, 1) for x in load]},
        f"python benchmarks/router_scale.py --sizes {args.sizes} --per-article-up-to {up_to}",
        args.out,
    )


if __name__ == "__main__":
    main()
