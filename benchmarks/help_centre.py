"""The help centre at 10,000 articles: search latency on the server, and a saved article live.

The KB is benchmarks/kb_build.py's synthetic one (--articles template articles), built once
with the router (articles and data/nlu, as `bot kb build` does) into --dir, or reused from it.

1. Search: GET /help/search.json through the web app in process (FastAPI's TestClient: routing,
   the speller, the question's embedding, FAISS, snippets, JSON), --searches questions, a third
   of them with a typing mistake, after a warm-up; p50 / p95 / max in ms.
2. Live: kb_watch's LiveIndexer runs as in `make run` (its thread watching the folder); one
   article is rewritten with a sentence no other article has (a section, and one of its
   `questions:`), and the clock runs until a separate KnowledgeBase (as the action server
   holds one, reloading by itself) both routes that sentence to that article (what the bot
   answers from) and finds its section first (what the answer quotes): save -> answer that
   cites it. --updates times.

    .venv/bin/python benchmarks/help_centre.py --dir /tmp/help-bench      # builds once
    .venv/bin/python benchmarks/help_centre.py --dir /tmp/help-bench      # reuses it

A --dir with your own kb/ and index/ (a copy of kb_articles and its built index) measures those.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS, save  # noqa: E402
from benchmarks.kb_build import QUERIES, article  # noqa: E402
from bot.kb.builder import BuildOptions, build_index  # noqa: E402
from bot.kb.chunker import ChunkConfig  # noqa: E402
from bot.kb.embedder import Embedder  # noqa: E402
from bot.kb.live import LiveIndexer  # noqa: E402
from bot.kb.search import KnowledgeBase  # noqa: E402
from bot.settings import Settings  # noqa: E402


def typo(text: str, rng: random.Random) -> str:
    """The question with two neighbouring letters of one longer word swapped."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 5]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def search_latency(folder: Path, embedder: Embedder, searches: int) -> dict:
    from fastapi.testclient import TestClient

    from bot.web.app import create_app, question_encoder

    settings = Settings(
        settings_file=folder / "none.toml",
        kb_dir=folder / "kb",
        index_dir=folder / "index",
        data_dir=folder / "var",
        searches_per_minute_per_address=0,  # one client asking hundreds of times: not abuse here
    )
    # questions embedded as the web app embeds them (the ONNX encoder, one thread)
    kb = KnowledgeBase(
        settings.index_dir,
        settings.embedding_model,
        embedder=embedder,
        query_encoder=question_encoder(settings),
    )
    client = TestClient(create_app(settings, kb=kb))
    rng = random.Random(5)
    questions = QUERIES + QUESTIONS
    asked = [
        typo(q, rng) if n % 3 == 0 else q
        for n, q in enumerate(rng.choice(questions) for _ in range(searches))
    ]
    for q in questions:  # warm: the speller of this version, the model, FAISS
        client.get("/help/search.json", params={"q": q})
    times = []
    for q in asked:
        start = time.perf_counter()
        response = client.get("/help/search.json", params={"q": q})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    times.sort()
    return {
        "searches": searches,
        "with_typo": sum(1 for n in range(searches) if n % 3 == 0),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(statistics.quantiles(times, n=20)[-1], 1),
        "max_ms": round(times[-1], 1),
    }


def _answered(kb: KnowledgeBase, sentence: str, word: str, article_id: str) -> bool:
    """The bot would answer the sentence from that article, as saved now (the router's nearest
    phrasing is the new question; the search finds the article first)."""
    hits = kb.search(sentence, 1)
    if not (hits and hits[0].id == article_id):
        return False
    routing = kb.route(sentence)
    top = routing.top if routing is not None else None
    return top is not None and top.article_id == article_id and word in top.phrasing


def live_latency(options: BuildOptions, embedder: Embedder, updates: int, articles: int) -> dict:
    live = LiveIndexer(options, lambda: embedder)
    live.build(exact=True)  # what the web app does at start (then trained from scratch)
    bot_kb = KnowledgeBase(options.index_dir, "all-MiniLM-L6-v2", embedder=embedder)
    live.start()
    rng = random.Random(3)
    times, builds, cpus, process_cpus, routers = [], [], [], [], []
    # one article saved again and again, as a writer does: an earlier save's sentence is gone
    # when the next is published, so it cannot be the hit (and it is put back at the end)
    target = rng.randrange(articles)
    path = options.kb_dir / f"a{target:05d}.md"
    before = path.read_text() if path.exists() else None
    try:
        for n in range(updates):
            word = f"zebracorn{n}{rng.randrange(10**6)}"
            sentence = f"Our {word} gift wrap service folds every parcel into a paper swan."
            # in a section of its own, so the search finds it as such (a sentence appended to
            # a long section can lose to another article by a hair)
            text = article(target, random.Random(target), time.time_ns())
            text += f"\n\n## Paper swans\n\n{sentence}\n"
            # a question the writer expects: what the router learns the article from
            text = text.replace("\n---\n", f'\nquestions:\n  - "{sentence}"\n---\n', 1)
            start, cpu = time.perf_counter(), time.process_time()
            path.write_text(text)
            while not _answered(bot_kb, sentence, word, f"a{target:05d}"):
                time.sleep(0.01)  # polling for the answer
            times.append(time.perf_counter() - start)
            process_cpus.append(round(time.process_time() - cpu, 3))
            builds.append(live.state.seconds)
            cpus.append(live.state.cpu_seconds)
            router = bot_kb.reader.manifest["router"]
            routers.append(f"{router.get('seconds')} s {router.get('how', 'trained')}")
    finally:
        live.stop()
        if before is None:
            path.unlink()
        else:
            path.write_text(before)
        live.build(exact=True)
    return {
        "updates": updates,
        "save_to_answer_median_s": round(statistics.median(times), 3),
        "save_to_answer_max_s": round(max(times), 3),
        "build_seconds": builds,
        # the indexer thread's CPU time per build, and the whole process's from save to answer
        # (the polling client's searches and routings every 10 ms included)
        "build_cpu_seconds": cpus,
        "process_cpu_seconds_save_to_answer": process_cpus,
        "of_which_router": routers,
        "article_classes": bot_kb.reader.manifest["router"].get("article_classes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, required=True, help="Where the KB and index live.")
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--only", choices=("search", "live"), help="Measure one of the two.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/help_centre.json")
    args = parser.parse_args()

    embedder = Embedder()
    kb_dir, index = args.dir / "kb", args.dir / "index"
    options = BuildOptions(
        kb_dir,
        index,
        "http://localhost:8080/help/",
        "all-MiniLM-L6-v2",
        ChunkConfig(),
        nlu_dir=ROOT / "data" / "nlu",
    )
    label = f"synthetic, {args.articles} template articles (benchmarks/kb_build.py)"
    if kb_dir.is_dir():  # reused: whatever articles are there (the demo's, a copy of yours)
        label = f"{sum(1 for _ in kb_dir.rglob('*.md'))} Markdown files reused from --dir"
    else:
        kb_dir.mkdir(parents=True)
        rng = random.Random(11)
        for n in range(args.articles):
            (kb_dir / f"a{n:05d}.md").write_text(article(n, rng))
        start = time.perf_counter()
        build_index(options, embedder_factory=lambda name: embedder)
        print(f"full build: {time.perf_counter() - start:.0f} s", flush=True)
    load = {"before": [round(x, 1) for x in os.getloadavg()]}  # the machine is shared
    search = search_latency(args.dir, embedder, args.searches) if args.only != "live" else None
    load["after_search"] = [round(x, 1) for x in os.getloadavg()]
    print("search", search, flush=True)
    live = None
    if args.only != "search":
        live = live_latency(options, embedder, args.updates, args.articles)
    print("live", live, flush=True)
    load["after"] = [round(x, 1) for x in os.getloadavg()]
    save(
        {
            "kb": label,
            "search": search,
            "live": live,
            "load_average_1_5_15_min": load,
        },
        f"python benchmarks/help_centre.py --articles {args.articles} --dir DIR"
        + (f" --only {args.only}" if args.only else ""),
        args.out,
    )


if __name__ == "__main__":
    main()
