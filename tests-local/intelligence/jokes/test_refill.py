"""Refilling the pool from a real-looking messy batch: only real, new jokes get in; every
refusal is logged with its reason and counted where moderators look."""

from __future__ import annotations

import logging

from support.stack import (  # noqa: F401 (fixtures)
    MOD,
    fake_fixture,
    made_up,
    say,
    settings_for,
)

from bot.http.metrics import StatsCollector
from bot.http.ops import stats_snapshot

GOOD = [
    f"Pourquoi le {made_up(900 + n)} adore-t-il le {made_up(950 + n)} ? Parce que le "
    f"{made_up(990 + n)} lui rappelle son enfance."
    for n in range(5)
]
MESSY = "\n".join(
    [
        "Voici des blagues :",
        *(f"{i}. {joke}" for i, joke in enumerate(GOOD, 1)),
        "6. Il y a un problème de maths qu'on peut résoudre en cinq étapes,",  # fragment
        "7. Tu veux que je t'en raconte une autre ? Dis-moi ton thème préféré !",  # meta
        "8. <think>Il faut une blague sur les chats. Voyons",  # reasoning
        "9. En tant qu'IA, je n'ai pas d'humour, mais voici une blague : rien.",  # disclaimer
        # the first joke again, in other words: a rewording
        f"10. Le {made_up(900)} adore le {made_up(950)}, car le {made_up(990)} lui rappelle "
        "son enfance !",
    ]
)


async def test_a_messy_batch_gives_only_its_real_new_jokes(fake, make_app, tmp_path, caplog):
    fake.reply = MESSY
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    caplog.set_level(logging.INFO, logger="intelligence.jokes.refill")
    told = {(await say(app, "!joke", f"viewer{i}")).text for i in range(5)}
    assert told == set(GOOD)  # the five real ones, each once, nothing else

    await app.jokes.refill.now(5)  # the pool runs low: the same batch again, all known
    calls = fake.calls
    assert calls >= 2
    # Each batch is refused the same way; a joke already in the pool is not a rewording.
    rejects = {"fragment": 1, "meta": 1, "reasoning": 1, "disclaimer": 1, "rewording": 1}
    assert dict(app.stats.joke_rejects) == {k: v * calls for k, v in rejects.items()}
    logged = [r.getMessage() for r in caplog.records if "joke refused" in r.getMessage()]
    assert any(m.startswith("joke refused (fragment)") for m in logged)

    line = (await say(app, "!cachestats", "mod", roles=MOD)).text
    assert "jokes refused" in line and "fragment=" in line
    assert stats_snapshot(app)["jokes"]["rejected"]["meta"] == calls
    metric = next(m for m in StatsCollector(app).collect() if m.name == "quipbot_joke_rejects")
    assert {s.labels["reason"]: s.value for s in metric.samples} == {
        k: float(v * calls) for k, v in rejects.items()
    }


async def test_a_batch_that_only_rewords_the_pool_adds_nothing(fake, make_app, tmp_path):
    fake.reply = MESSY
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    await say(app, "!joke")
    await app.jokes.refill.now(5)
    assert app.jokes.pool_size() == len(GOOD)
