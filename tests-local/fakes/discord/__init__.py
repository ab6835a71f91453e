"""A local fake of Discord's gateway and REST API (v10) that the *real* discord.py runs against.

Unlike dpytest nothing inside discord.py is replaced: only the REST base URL and the default
gateway URL are redirected (``patch_discord``), so discord.py's own HTTP, rate-limit, websocket,
zlib, heartbeat, resume and interaction code is exercised. Payloads follow the shapes Discord
sends, and the fake rejects what Discord rejects (over-long content, empty messages, late or
repeated interaction callbacks, edits of other people's messages, ...) with Discord's error codes.

Typical use::

    fake = FakeDiscord()
    await fake.start()
    async with fake.run_client(bot):          # patch URLs, login, connect, wait for on_ready
        iid = await fake.send_slash("ask", {"question": "hi"})
        await fake.wait_for(lambda r: r.path.startswith("/webhooks/"))
    await fake.stop()
"""

from fakes.discord.model import EPHEMERAL, RecordedRequest
from fakes.discord.server import FakeDiscord

__all__ = ["EPHEMERAL", "FakeDiscord", "RecordedRequest"]
