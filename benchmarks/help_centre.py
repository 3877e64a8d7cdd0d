"""The help centre at 10,000 articles: search latency on the server, and a saved article live.

The KB is benchmarks/kb_build.py's synthetic one (--articles template articles), built once
with the router (articles and data/nlu, as `bot kb build` does) into --dir, or reused from it.

1. Search: GET /help/search.json through the web app in process (FastAPI's TestClient: routing,
   the speller, the question's embedding, FAISS, snippets, JSON), --searches questions, a third
   of them with a typing mistake, after a warm-up; p50 / p95 / max in ms.
2. Live: kb_watch's LiveIndexer runs as in `make run` (its thread watching the folder, its
   encoder the web app's: ONNX on one thread); one article is rewritten with a sentence no
   other article has (a section, and one of its `questions:`), and the clock runs until a
   separate KnowledgeBase (as the action server holds one, in a process of its own with its
   own ONNX encoder, reloading by itself; `--reader thread`: in this process) both routes that
   sentence to that article (what the bot answers from) and finds its section first (what the
   answer quotes): save -> answer that cites it. --updates times.

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
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
ENCODERS = ROOT / "models/encoders"  # the setting encoder_dir's default
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS, save  # noqa: E402
from benchmarks.kb_build import QUERIES, article  # noqa: E402
from bot.kb.builder import BuildOptions, build_index  # noqa: E402
from bot.kb.chunker import ChunkConfig  # noqa: E402
from bot.kb.embedder import Embedder  # noqa: E402
from bot.kb.encoder import load_live_embedder, load_query_encoder  # noqa: E402
from bot.kb.live import LiveIndexer  # noqa: E402
from bot.kb.search import KnowledgeBase, QueryEncoder  # noqa: E402
from bot.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    import numpy as np


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


def search_latency(folder: Path, searches: int) -> dict:
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
        settings.index_dir, settings.embedding_model, query_encoder=question_encoder(settings)
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


class _Remembering:
    """A question encoder that embeds the question it was last asked once: the action server
    embeds a message once for its route and its search, and the benchmark's polling asks the
    same question every 10 ms (its CPU would otherwise be taken from the indexer's)."""

    def __init__(self, encoder: QueryEncoder) -> None:
        self.encoder = encoder
        self.last: tuple[str, np.ndarray] | None = None

    def encode_query(self, text: str) -> np.ndarray:
        if self.last is None or self.last[0] != text:
            self.last = (text, self.encoder.encode_query(text))
        return self.last[1]


def _open_bot(index_dir: Path) -> KnowledgeBase:
    """The bot's reader, as the action server holds one: its own ONNX encoder on one thread."""
    bot_kb = KnowledgeBase(
        index_dir,
        "all-MiniLM-L6-v2",
        query_encoder=lambda: _Remembering(load_query_encoder("all-MiniLM-L6-v2", ENCODERS, 1)),
    )
    bot_kb.search("warm", 1)
    bot_kb.route("warm")
    return bot_kb


def _wait_for_answer(bot_kb: KnowledgeBase, sentence: str, word: str, article_id: str) -> dict:
    """Ask each version published until the bot answers from the article (the index's version
    pointer is read every 10 ms: asking every 10 ms took half a core from the indexer on a
    busy machine); when (CLOCK_MONOTONIC, the same in every process) and this reader's CPU
    time meanwhile."""
    cpu = time.process_time()
    while not _answered(bot_kb, sentence, word, article_id):
        while not bot_kb.reader.is_stale():
            time.sleep(0.01)  # polling for a new version
        bot_kb.reload_if_stale(force=True)
    router = bot_kb.reader.manifest["router"]
    return {
        "answered_at": time.monotonic(),
        "reader_cpu": round(time.process_time() - cpu, 3),
        "router": f"{router.get('seconds')} s {router.get('how', 'trained')}",
        "article_classes": router.get("article_classes"),
    }


def _reader_process(index_dir: Path, connection: Connection) -> None:
    """The bot in a process of its own (as the action server is): asked by the benchmark."""
    bot_kb = _open_bot(index_dir)
    connection.send("ready")
    while (asked := connection.recv()) is not None:
        connection.send(_wait_for_answer(bot_kb, *asked))


def live_latency(
    options: BuildOptions, embedder: Embedder, updates: int, articles: int, reader: str
) -> dict:
    live = LiveIndexer(options, lambda: embedder)
    live.build(exact=True)  # what the web app does at start (then trained from scratch)
    builds_before = live.state.builds
    if reader == "process":
        import multiprocessing

        here, there = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_reader_process, args=(options.index_dir, there), daemon=True
        )
        child.start()
        assert here.recv() == "ready"

        def ask(*asked: str) -> dict:
            here.send(asked)
            return here.recv()
    else:  # a thread of this process, sharing its interpreter (and GIL) with the indexer
        bot_kb = _open_bot(options.index_dir)

        def ask(*asked: str) -> dict:
            return _wait_for_answer(bot_kb, *asked)

    live.start()
    deadline = time.monotonic() + 3600  # a bound for a stuck watch
    while live.state.builds == builds_before:  # as a writer finds it: running for a while
        assert time.monotonic() < deadline, "the watch never made its first build"
        time.sleep(0.05)
    rng = random.Random(3)
    times, builds, cpus, process_cpus, reader_cpus, routers = [], [], [], [], [], []
    phases = []
    # one article saved again and again, as a writer does: an earlier save's sentence is gone
    # when the next is published, so it cannot be the hit (and it is put back at the end)
    target = rng.randrange(articles)
    path = options.kb_dir / f"a{target:05d}.md"
    before = path.read_text() if path.exists() else None
    answer: dict = {}
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
            start, cpu = time.monotonic(), time.process_time()
            path.write_text(text)
            answer = ask(sentence, word, f"a{target:05d}")
            times.append(answer["answered_at"] - start)
            process_cpus.append(round(time.process_time() - cpu, 3))
            reader_cpus.append(answer["reader_cpu"])
            builds.append(live.state.seconds)
            state = live.state
            if state.noticed_at and state.started_at and state.finished_at:
                phases.append(
                    {
                        "save_to_noticed": round(state.noticed_at - start, 3),
                        "noticed_to_build": round(state.started_at - state.noticed_at, 3),
                        "build": round(state.finished_at - state.started_at, 3),
                        "published_to_answer": round(answer["answered_at"] - state.finished_at, 3),
                    }
                )
            cpus.append(live.state.cpu_seconds)
            routers.append(answer["router"])
    finally:
        live.stop()
        if reader == "process":
            here.send(None)
            child.join(timeout=60)
        if before is None:
            path.unlink()
        else:
            path.write_text(before)
        live.build(exact=True)
    return {
        "updates": updates,
        "reader": reader,
        "save_to_answer_median_s": round(statistics.median(times), 3),
        "save_to_answer_max_s": round(max(times), 3),
        "save_to_answer_s": [round(t, 3) for t in times],
        "build_seconds": builds,
        # where each save's time went (seconds): the watch noticing it, settling (a save is
        # often several writes), the build and publish, the reader's reload and answer
        "phases": phases,
        # the indexer thread's CPU time per build (the ONNX encoder runs in it); the indexer's
        # process's from save to answer; the reader's (its searches and routings every 10 ms)
        "build_cpu_seconds": cpus,
        "indexer_process_cpu_seconds_save_to_answer": process_cpus,
        "reader_cpu_seconds_save_to_answer": reader_cpus,
        "of_which_router": routers,
        "article_classes": answer.get("article_classes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, required=True, help="Where the KB and index live.")
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--only", choices=("search", "live"), help="Measure one of the two.")
    parser.add_argument(
        "--reader",
        choices=("process", "thread"),
        default="process",
        help="Where the bot that is asked runs: a process of its own, as the action server "
        "(default), or a thread beside the live indexer (how it was measured before 2026-12-07).",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/help_centre.json")
    args = parser.parse_args()

    # what the live indexer embeds with (the web app's, bot.web.app.live_embedder: ONNX on one
    # thread); the full build uses it too (the vectors agree with torch's within 1e-4)
    embedder: Embedder = load_live_embedder("all-MiniLM-L6-v2", ENCODERS)
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
    search = search_latency(args.dir, args.searches) if args.only != "live" else None
    load["after_search"] = [round(x, 1) for x in os.getloadavg()]
    print("search", search, flush=True)
    live = None
    if args.only != "search":
        live = live_latency(options, embedder, args.updates, args.articles, args.reader)
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
        + (f" --only {args.only}" if args.only else "")
        + (f" --reader {args.reader}" if args.only != "search" else ""),
        args.out,
    )


if __name__ == "__main__":
    main()
