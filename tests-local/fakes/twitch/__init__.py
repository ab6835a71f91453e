"""An in-process fake of the parts of Twitch that a twitchio 3 bot talks to.

It serves id.twitch.tv OAuth (``/oauth2/token``, ``/oauth2/validate``, and ``/oauth2/authorize``
as the ``logged_in_user`` would answer it), the Helix endpoints a chat bot uses (``users``,
``eventsub/subscriptions``, ``chat/messages``) and the EventSub websocket, on 127.0.0.1.
``patch_twitchio()`` points the real twitchio client at it, so tests run the real client offline.
It is deliberately as strict as Twitch where a lax fake would hide production bugs: tokens,
client ids, scopes and redirect URLs are checked, chat longer than 500 characters is refused,
duplicates within 30 s are dropped, subscriptions die with their socket, and the bot's own chat
messages come back as ``channel.chat.message`` notifications, as they do on Twitch.

Typical use (see tests-local/test_fake_twitch.py)::

    async with FakeTwitch() as fake:
        fake.add_user("100", "owner")
        fake.add_user("200", "quipbot")
        fake.add_moderator("100", "200")
        access, refresh = fake.add_user_token("200")
        with fake.patch_twitchio():
            ...  # start a twitchio Bot with fake.client_id / fake.client_secret
"""

from fakes.twitch.model import (
    CHAT_MESSAGE,
    DEFAULT_USER_SCOPES,
    NoSubscriberError,
    SentChat,
    VirtualClock,
)
from fakes.twitch.server import FakeTwitch

__all__ = [
    "CHAT_MESSAGE",
    "DEFAULT_USER_SCOPES",
    "FakeTwitch",
    "NoSubscriberError",
    "SentChat",
    "VirtualClock",
]
