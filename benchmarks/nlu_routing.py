"""Intent-level routing on the Bitext customer-support set (data nobody here wrote).

Parses each utterance with a running Rasa server (/model/parse) and checks that the NLU sends it
down the right road: recover_password -> reset_password, track_order -> track_order,
contact_human_agent -> request_human, complaint -> complaint, and every other (KB) intent to the
knowledge base (ask_question or nlu_fallback). This is the NLU half of routing only; the full
outcome-level evaluation (articles, flows, handoffs) is `bot eval routing` (evaluation issue).

    .venv/bin/python benchmarks/nlu_routing.py            # starts its own Rasa server
    .venv/bin/python benchmarks/nlu_routing.py --bot-url http://127.0.0.1:5005
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.rasa_auth import RasaAuth  # noqa: E402
from bot.stack import ensure_model, own_stack_settings, start_rasa, wait_ready  # noqa: E402
from bot.tokens import internal_token  # noqa: E402

DATA = (
    ROOT.parent
    / "shared"
    / "eval-data"
    / "bitext-customer-support"
    / "bitext_customer_support_dev.csv"
)
FLOWS = {
    "recover_password": "reset_password",
    "track_order": "track_order",
    "contact_human_agent": "request_human",
    "complaint": "complaint",
}
KB = {"ask_question", "nlu_fallback"}


def correct(bitext_intent: str, predicted: str) -> bool:
    """Whether the predicted intent takes the utterance where it should go."""
    if bitext_intent == "contact_customer_service":  # an article or a person are both right
        return predicted in KB | {"request_human"}
    if bitext_intent in FLOWS:
        return predicted == FLOWS[bitext_intent]
    return predicted in KB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot-url", help="a running Rasa server (default: start one)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "nlu_routing.json"
    )
    args = parser.parse_args()
    rows = list(csv.DictReader(DATA.open(encoding="utf-8")))
    server = None
    url = args.bot_url
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = own_stack_settings(folder)
    if url is None:
        model, _ = ensure_model()
        server = start_rasa(settings, model, folder)
        wait_ready(server)
        url = server.url
    right, total = collections.Counter(), collections.Counter()
    confusions: collections.Counter = collections.Counter()
    try:
        token = internal_token(settings, "rasa")
        with httpx.Client(timeout=30, auth=RasaAuth(token)) as client:
            for row in rows:
                parsed = client.post(f"{url}/model/parse", json={"text": row["instruction"]}).json()
                predicted = parsed["intent"]["name"]
                total[row["intent"]] += 1
                if correct(row["intent"], predicted):
                    right[row["intent"]] += 1
                else:
                    confusions[f"{row['intent']} -> {predicted}"] += 1
    finally:
        if server is not None:
            server.stop()
    result = {
        "utterances": sum(total.values()),
        "accuracy": round(sum(right.values()) / sum(total.values()), 4),
        "per_intent": {k: round(right[k] / total[k], 3) for k in sorted(total)},
        "top_confusions": dict(confusions.most_common(10)),
        "command": "python benchmarks/nlu_routing.py " + " ".join(sys.argv[1:]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps({k: result[k] for k in ("utterances", "accuracy", "top_confusions")}, indent=2)
    )


if __name__ == "__main__":
    main()
