"""Ask replay: a question set with paraphrases and adversarial near-misses, through !ask.

Every cached question is asked first (one LLM call each), then every variant. A variant served
from the cache is a hit; a hit whose answer belongs to another question is a false hit. The
labelled pairs are the ones the fuzzy tests use (tests-local/intelligence/test_fuzzy.py), in
French and English. Then the cache alone on the 297 labelled question pairs of
tests-local/data: how many paraphrases and typos it reuses, and how many times it answers
another question.

Run: .venv/bin/python bench/ask_replay.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local"), str(ROOT / "tests-local" / "intelligence")]

from fakes.llm import FakeLLM  # noqa: E402
from test_fuzzy import NEAR_MISSES, PARAPHRASES  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import Settings  # noqa: E402
from intelligence.cache import TieredCache  # noqa: E402
from intelligence.entries import Entry, Scope  # noqa: E402
from intelligence.stats import Stats  # noqa: E402

TRANSLATIONS = [("Quelle est la capitale de la France ?", "What is the capital of France?")]


def answer_for(body: dict) -> str:
    question = body["messages"][-1]["content"].split("\n")[1]
    return f"ANSWER[{question}]"


async def main() -> None:
    fake = FakeLLM(flavour="lmstudio", reply=answer_for)
    await fake.start()
    app = build_app(
        Settings(
            bot={"data_dir": tempfile.mkdtemp(), "language": "en"},
            llm={"provider": "lmstudio", "base_url": fake.base_url},
        ),
        enforce_limits=False,
    )
    await app.start()
    # Group the questions by meaning: a paraphrase joins its original's group.
    group: dict[str, int] = {}
    for cached, asked in PARAPHRASES:
        group.setdefault(cached, len(group))
        group[asked] = group[cached]
    for cached, asked in NEAR_MISSES:
        for question in (cached, asked):
            group.setdefault(question, len(group))
    # The same question in the other language has the same answer (the bot answers in its
    # configured language): "capitale"/"capital" is a typo-distance apart, so these may match.
    for french, english in TRANSLATIONS:
        old, new = group[french], group[english]
        for question, g in list(group.items()):
            if g == old:
                group[question] = new
    answer_group = {f"ANSWER[{q}]": g for q, g in group.items()}

    async def ask(question: str, viewer: str) -> tuple[str, str]:
        message = ChatMessage(
            "twitch", "c", viewer, viewer, frozenset({Role.VIEWER}), f"!ask {question}"
        )
        reply = await app.router.handle(message)
        return await reply.collect(), reply.source

    originals = list(dict.fromkeys(c for c, _ in PARAPHRASES + NEAR_MISSES))
    for i, question in enumerate(originals):
        await ask(question, f"first{i}")
    calls_before = fake.calls
    variants = [(a, True) for _, a in PARAPHRASES] + [(a, False) for _, a in NEAR_MISSES]
    hits = false_hits = hits_on_paraphrases = 0
    for i, (question, is_paraphrase) in enumerate(variants):
        text, source = await ask(question, f"second{i}")
        if source in ("l1", "l2", "fuzzy"):
            hits += 1
            hits_on_paraphrases += is_paraphrase
            if answer_group.get(text) != group[question]:
                false_hits += 1
                print(f"  FALSE HIT: {question!r} got {text!r}")
    asked = len(originals) + len(variants)
    llm_calls = fake.calls
    await app.aclose()
    await fake.stop()
    print(
        f"ask replay: {len(originals)} questions asked first, then {len(variants)} variants "
        f"({len(PARAPHRASES)} paraphrases, {len(NEAR_MISSES)} adversarial near-misses)"
    )
    print(
        f"  hit rate on variants: {hits}/{len(variants)} = {hits / len(variants):.0%}; on "
        f"paraphrases: {hits_on_paraphrases}/{len(PARAPHRASES)} = "
        f"{hits_on_paraphrases / len(PARAPHRASES):.0%}"
    )
    print(f"  false hits: {false_hits} (target 0)")
    print(
        f"  LLM calls: {llm_calls} for {asked} questions; saved {asked - llm_calls} "
        f"({(asked - llm_calls) / asked:.0%}); variants alone: {fake.calls - calls_before} "
        f"calls for {len(variants)}"
    )


async def labelled_pairs() -> None:
    pairs = [json.loads(line) for line in (ROOT / "tests-local/data/question_pairs.jsonl").open()]
    scope = Scope("ask", "model", "persona", "en")
    reused, wrong = Counter[str](), 0
    for pair in pairs:
        cache = TieredCache(l1_max=100, fuzzy_threshold=90, stats=Stats())
        await cache.put(scope, pair["b"], Entry("answer", pair["b"], 60))
        if await cache.get(scope, pair["a"]) is not None:
            if pair["same"]:
                reused[pair["kind"]] += 1
            else:
                wrong += 1
                print(f"  WRONG ANSWER: {pair['a']!r} got the answer of {pair['b']!r}")
    same = Counter(p["kind"] for p in pairs if p["same"])
    print(
        f"labelled question pairs: {len(pairs)} ({len(pairs) - same.total()} different questions)"
    )
    print(f"  wrong answers: {wrong} (target 0)")
    print(
        f"  reused: {reused.total()}/{same.total()} = {reused.total() / same.total():.0%}", end=""
    )
    print("".join(f"; {kind} {reused[kind]}/{n}" for kind, n in same.items()))


if __name__ == "__main__":
    asyncio.run(main())
    asyncio.run(labelled_pairs())
