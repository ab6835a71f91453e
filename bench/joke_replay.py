"""Joke replay: 20 viewers × 10 !joke in one channel over 30 simulated minutes, then the same in
each of 3 channels at once, against a joke writer that behaves like a real model: it retells
jokes it wrote before in other words, and some of what it writes is broken.

Prints, per replay: jokes a channel had already heard (target 0), rewordings of a joke the
channel had heard (target 0), LLM calls per joke served (target ≤ 0.25 for one channel), p50 and
p95 !joke latency after the first minute (target p95 ≤ 50 ms), and the quality gate's refusals.
Then the near-duplicate detector's precision and recall and the quality gate's accuracy on the
labelled sets in tests-local/data.

Time is compressed (--speed, default 10×): the bot's clock runs on simulated time while the
LLM's 1.5 s latency stays real, so the LLM looks 10× slower to the bot than it is.

--llm-url URL replays against a real OpenAI-compatible server (llama.cpp) instead of the fake
writer: the rewording figures then have no ground truth and are not printed.

Run: .venv/bin/python bench/joke_replay.py [--speed 10] [--llm-url http://127.0.0.1:8080/v1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from fakes.llm import FakeLLM  # noqa: E402
from support.stack import made_up  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import Settings  # noqa: E402
from intelligence import words  # noqa: E402
from intelligence.jokes.quality import judge  # noqa: E402
from intelligence.jokes.similar import same_joke, signature  # noqa: E402
from intelligence.stats import percentile  # noqa: E402

VIEWERS, JOKES_EACH, MINUTES, LLM_LATENCY_S = 20, 10, 30, 1.5
RETOLD, BROKEN = 0.3, 0.15  # shares of what the writer writes: old jokes reworded, broken ones
DATA = ROOT / "tests-local" / "data"

BROKEN_ITEMS = [
    "Il y a un problème de maths qu'on peut résoudre en cinq étapes,",
    "J'adorerais entendre tes blagues ! Quel est le thème de la tienne ?",
    "<think>Une blague sur les chats. Voyons voir",
    "En tant qu'IA, je n'ai pas vraiment d'humour.",
    "Pourquoi le chat traverse-t-il la route ?",
]


class JokeWriter:
    """The fake model: new jokes of made-up words, old ones in other words, some broken."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.numbers = itertools.count(1)
        self.truth: dict[str, int] = {}  # every text written → the joke it tells
        self.written: list[tuple[int, str, str, str]] = []

    def tell(self, joke: int, a: str, b: str, c: str, retold: bool) -> str:
        if retold:
            return f"Le {a} adore le {b}, tout simplement parce que le {c} le fait rire !"
        return f"Pourquoi le {a} adore-t-il le {b} ? Parce que le {c} le fait rire."

    def __call__(self, body: dict) -> str:
        wanted = len(re.findall(r"^\d+\. ", body["messages"][-1]["content"], re.MULTILINE)) or 1
        lines = []
        for i in range(1, wanted + 1):
            roll = self.rng.random()
            if roll < BROKEN:
                lines.append(f"{i}. {self.rng.choice(BROKEN_ITEMS)}")
                continue
            if roll < BROKEN + RETOLD and self.written:
                joke, a, b, c = self.rng.choice(self.written)
                text = self.tell(joke, a, b, c, retold=True)
            else:
                n = next(self.numbers)
                joke, (a, b, c) = n, (made_up(3 * n + k) for k in range(3))
                self.written.append((joke, a, b, c))
                text = self.tell(joke, a, b, c, retold=False)
            self.truth[text] = joke
            lines.append(f"{i}. {text}")
        return "Voici des blagues :\n" + "\n".join(lines)


async def replay(channels: int, speed: float, llm_url: str | None) -> None:
    writer = JokeWriter(seed=channels)
    fake = None
    if llm_url is None:
        fake = FakeLLM(flavour="lmstudio", latency_s=LLM_LATENCY_S, reply=writer)
        llm_url = await fake.start()
    started_real = time.monotonic()

    def simulated_clock() -> float:
        return (time.monotonic() - started_real) * speed

    settings = Settings(
        bot={"data_dir": tempfile.mkdtemp(), "language": "fr"},
        llm={"provider": "lmstudio", "base_url": llm_url, "timeout_s": 60},
    )
    app = build_app(settings, enforce_limits=False, clock=simulated_clock)
    await app.start()
    rng = random.Random(42)
    schedule = sorted(
        (rng.uniform(0, MINUTES * 60), f"chan{c}", f"viewer{c}-{v}")
        for c in range(channels)
        for v in range(VIEWERS)
        for _ in range(JOKES_EACH)
    )
    heard: dict[str, list[str]] = {}  # channel → what it heard, in order
    latencies: list[tuple[float, float]] = []
    sources: Counter[str] = Counter()

    async def request(at: float, channel: str, viewer: str) -> None:
        await asyncio.sleep(max(0.0, at / speed - (time.monotonic() - started_real)))
        roles = frozenset({Role.VIEWER})
        message = ChatMessage("twitch", channel, viewer, viewer, roles, "!joke")
        began = time.perf_counter()
        reply = await app.router.handle(message)
        assert reply is not None
        await reply.collect()
        latencies.append((at, time.perf_counter() - began))
        heard.setdefault(channel, []).append(reply.text)
        sources[str(reply.source)] += 1

    await asyncio.gather(*(request(*item) for item in schedule))
    calls = sum(app.stats.llm_calls.values())
    rejects = {str(reason): n for reason, n in app.stats.joke_rejects.most_common()}
    await app.aclose()
    if fake is not None:
        await fake.stop()

    served = sum(len(texts) for texts in heard.values())
    again = sum(len(texts) - len(set(texts)) for texts in heard.values())
    after_first_minute = sorted(lat for at, lat in latencies if at >= 60)
    print(
        f"{channels} channel(s) × {VIEWERS} viewers × {JOKES_EACH} !joke over {MINUTES} "
        f"simulated min ({speed:g}× faster)"
    )
    print(f"  jokes served: {served}, by source: {dict(sources)}")
    print(f"  jokes a channel had already heard: {again} (target 0)")
    if fake is not None:
        reworded = 0
        for texts in heard.values():
            tellings = Counter(writer.truth[t] for t in set(texts) if t in writer.truth)
            reworded += sum(n - 1 for n in tellings.values())
        print(f"  rewordings of a joke the channel had heard: {reworded} (target 0)")
    print(f"  LLM calls: {calls}, per joke served: {calls / served:.3f} (target ≤ 0.25)")
    print(
        f"  !joke latency after the first minute: p50 "
        f"{percentile(after_first_minute, 50) * 1000:.2f} ms, p95 "
        f"{percentile(after_first_minute, 95) * 1000:.2f} ms (target p95 ≤ 50 ms)"
    )
    print(f"  quality gate refusals by reason: {rejects}")


def detector_figures() -> None:
    for name in ("joke_pairs.jsonl", "joke_pairs_holdout.jsonl", "joke_pairs_blind.jsonl"):
        path = DATA / name
        if not path.exists():
            continue
        pairs = [json.loads(line) for line in path.open()]
        got = [same_joke(signature(p["a"]), signature(p["b"])) for p in pairs]
        found = sum(g and p["same"] for g, p in zip(got, pairs, strict=True))
        merged = sum(g and not p["same"] for g, p in zip(got, pairs, strict=True))
        missed = sum(p["same"] and not g for g, p in zip(got, pairs, strict=True))
        print(
            f"near-duplicate detector on {name} ({len(pairs)} pairs): precision "
            f"{found / (found + merged):.3f}, recall {found / (found + missed):.3f} "
            f"({merged} different jokes merged, {missed} rewordings missed)"
        )
    for name in ("joke_outputs.jsonl", "joke_outputs_holdout.jsonl"):
        path = DATA / name
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.open()]
        verdicts = [judge(r["text"], r["expected_lang"]) for r in rows]
        good = [v for v, r in zip(verdicts, rows, strict=True) if r["label"] == "keep"]
        bad = [(v, r) for v, r in zip(verdicts, rows, strict=True) if r["label"] != "keep"]
        print(
            f"quality gate on {name}: real jokes refused {sum(v is not None for v in good)}/"
            f"{len(good)}, broken ones kept {sum(v is None for v, _ in bad)}/{len(bad)}, "
            f"right reason {sum(v == r['reason'] for v, r in bad)}/{len(bad)}"
        )


async def main(speed: float, llm_url: str | None) -> None:
    words.load()
    for channels in (1, 3):
        await replay(channels, speed, llm_url)
    detector_figures()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--llm-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.speed, args.llm_url))
