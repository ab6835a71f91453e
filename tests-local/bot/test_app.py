"""The app's lifecycle: the data folder is checked at start, with one clear line when unusable."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import StorageUnavailable


async def test_a_missing_data_folder_is_created(settings, make_app, tmp_path):
    settings.bot.data_dir = tmp_path / "new" / "nested"
    app = await make_app(settings)
    assert app.store.path.is_file()


async def test_a_data_folder_that_cannot_be_created_is_one_clear_line(settings, make_app, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    settings.bot.data_dir = tmp_path / "file" / "data"
    with pytest.raises(StorageUnavailable) as info:
        await make_app(settings)
    assert str(info.value) == (
        f"bot.data_dir: cannot create or write {tmp_path / 'file' / 'data'} (Not a directory); "
        "set it to a writable folder"
    )


async def test_a_database_that_cannot_be_opened_is_one_clear_line(settings, make_app, tmp_path):
    settings.bot.data_dir.mkdir()
    settings.bot.database.write_text("not SQLite, but long enough to be read as a header" * 4)
    with pytest.raises(StorageUnavailable) as info:
        await make_app(settings)
    assert str(info.value).startswith(f"bot.data_dir: cannot open {settings.bot.database} (")
    assert "\n" not in str(info.value)


def test_the_start_line_says_a_local_server_serves_its_loaded_model(settings):
    from bot.app import describe

    settings.llm.provider = "lmstudio"
    assert "backend=lmstudio(its loaded model at http://localhost:1234/v1) then offline" in (
        describe(settings)
    )
    settings.llm.model = "qwen2.5-7b-instruct"
    assert "lmstudio(qwen2.5-7b-instruct at " in describe(settings)


async def test_history_is_trimmed_at_start_and_every_few_minutes(settings, make_app, monkeypatch):
    import bot.app
    from intelligence.store import LogRow, Store

    store = Store(settings.bot.database)  # an earlier run's long chat log
    for i in range(1500):
        store.log_chat(LogRow("console", "c", str(i), "ask", "q", "a", "llm", 0.1))
    await store.aclose()
    settings.bot.keep_rows = 1000
    monkeypatch.setattr(bot.app, "UPKEEP_EVERY_S", 0.01)
    app = await make_app(settings)
    await app.store.flush()
    assert (await app.store.fetch("SELECT COUNT(*) FROM chat_log"))[0][0] == 1000
    for i in range(500):
        app.store.log_chat(LogRow("console", "c", f"new{i}", "ask", "q", "a", "llm", 0.1))
    for _ in range(500):  # the upkeep trims again without a restart
        await app.store.flush()
        if (await app.store.fetch("SELECT COUNT(*) FROM chat_log"))[0][0] == 1000:
            break
        await asyncio.sleep(0.01)
    assert (await app.store.fetch("SELECT COUNT(*) FROM chat_log"))[0][0] == 1000
