"""What the bot itself says, in each supported language. Keep every line short: it goes to chat."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "cooldown": "⏳ {user}, encore {seconds}s avant le prochain {prefix}{command}.",
        "too_long": "✋ {user}, message trop long ({length} caractères, max {limit}).",
        "usage": "Utilisation : {prefix}{command} {usage}",
        "error": "😵 Oups, un souci de mon côté. Réessaie dans un instant.",
        "blocked": "🤐 Je préfère ne pas répondre à ça.",
        "empty": "🤔 Je n'ai rien à répondre à ça.",
        "help": "Commandes : {commands}",
        "help_command": "{command}{usage} : {description}",
        "pong": "🏓 Pong !",
        "uptime": "⏱️ En ligne depuis {uptime}.",
        "ai_resting": "😴 L'IA fait une pause, réessaie dans un moment.",
        "cache_cleared": "🧹 Cache vidé ({count} entrées).",
        "vote_nothing": "{user}, aucune blague à noter pour l'instant : essaie !blague.",
        "vote_counted": "🗳️ Merci {user} ! Cette blague est à {score:+d}.",
        "vote_retired": "🗳️ Merci {user} ! Cette blague ({score:+d}) prend sa retraite.",
        "top_empty": "🏆 Pas encore de blague notée : !vote +1 après une blague qui te plaît.",
        "forgot": "🧽 Réponse oubliée : « {question} ».",
        "forget_none": "Aucune réponse apprise ne correspond à cette question.",
        "banphrase_added": "🚫 Banni : « {phrase} ». Je ne le dirai plus.",
        "banphrase_exists": "🚫 « {phrase} » est déjà banni.",
        "banphrase_removed": "✅ « {phrase} » n'est plus banni.",
        "banphrase_unknown": "« {phrase} » n'est pas dans la liste de la chaîne.",
        "banphrase_none": "🚫 La chaîne n'a banni aucun mot (la liste par défaut s'applique).",
        "banphrase_list": "🚫 {count} bannis par la chaîne : {phrases}",
        "discord.unavailable": "🚧 Désolé, /{command} n'est pas encore disponible.",
        "discord.refused": (
            "🔒 Désolé, /{command} est réservé aux modérateurs (Gérer les messages)."
        ),
        "discord.not_now": "⏳ Pas maintenant, réessaie dans un instant.",
    },
    "en": {
        "cooldown": "⏳ {user}, {seconds}s before your next {prefix}{command}.",
        "too_long": "✋ {user}, that's too long ({length} chars, max {limit}).",
        "usage": "Usage: {prefix}{command} {usage}",
        "error": "😵 Oops, something broke on my side. Try again in a moment.",
        "blocked": "🤐 I'd rather not answer that.",
        "empty": "🤔 I have nothing to say to that.",
        "help": "Commands: {commands}",
        "help_command": "{command}{usage}: {description}",
        "pong": "🏓 Pong!",
        "uptime": "⏱️ Up for {uptime}.",
        "ai_resting": "😴 The AI is taking a break, try again in a moment.",
        "cache_cleared": "🧹 Cache cleared ({count} entries).",
        "vote_nothing": "{user}, no joke to rate yet: try !joke.",
        "vote_counted": "🗳️ Thanks {user}! That joke is at {score:+d}.",
        "vote_retired": "🗳️ Thanks {user}! That joke ({score:+d}) is retiring.",
        "top_empty": "🏆 No rated joke yet: !vote +1 after a joke you like.",
        "forgot": '🧽 Forgot the learned answer to "{question}".',
        "forget_none": "No learned answer matches that question.",
        "banphrase_added": '🚫 Banned: "{phrase}". I will not say it.',
        "banphrase_exists": '🚫 "{phrase}" is banned already.',
        "banphrase_removed": '✅ "{phrase}" is no longer banned.',
        "banphrase_unknown": '"{phrase}" is not on the channel\'s list.',
        "banphrase_none": "🚫 The channel banned no words (the default list applies).",
        "banphrase_list": "🚫 {count} banned by the channel: {phrases}",
        "discord.unavailable": "🚧 Sorry, /{command} is not available yet.",
        "discord.refused": "🔒 Sorry, /{command} is for moderators (it needs Manage Messages).",
        "discord.not_now": "⏳ Not right now, try again in a moment.",
    },
}


def text(language: str, key: str, **values: object) -> str:
    template = TEXTS[language].get(key) or TEXTS["en"][key]
    return template.format(**values) if values else template


def duration(seconds: float) -> str:
    """A compact duration: 42s, 5m12s, 3h04m, 2d03h."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
