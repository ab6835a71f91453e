"""A command is defined once: its name, aliases and description per language, arguments,
permission and cooldown, next to its handler. The router, ``!help``, Discord's slash commands
and the HTTP API are all derived from these definitions.

Commands live in ``Component`` classes, each method marked with ``@command(...)``::

    class Fun(Component):
        @command("joke", aliases={"fr": ("blague",)},
                 description={"en": "A joke you have not heard yet", "fr": "Une blague…"})
        async def joke(self, ctx: Context) -> Reply: ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from commands.texts import text
from commands.types import ChatMessage, Reply, Role

# A text per language ("en", "fr"); the English one stands in for a missing language.
Localised = Mapping[str, str]


def localised(texts: Localised, language: str, default: str = "") -> str:
    return texts.get(language) or texts.get("en") or default


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler gets: the message, the parsed command and its arguments."""

    message: ChatMessage
    command: str  # the name the viewer used, lower-cased: an alias maybe (!blague for joke)
    args: str
    language: str
    prefix: str
    definition: Command

    def usage(self) -> Reply:
        """The reply that shows how to use this command, named as the viewer typed it."""
        usage = self.definition.usage
        return Reply(
            text(self.language, "usage", prefix=self.prefix, command=self.command, usage=usage)
        )


Handler = Callable[[Context], Awaitable[Reply | None]]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument. Arguments arrive as one line of text (``!vote -1 #abc``); platforms with
    typed options (Discord) offer each argument as its own option and join them in order."""

    name: str
    description: Localised = field(default_factory=dict)
    required: bool = True
    # The accepted values, each with its label (Discord shows the labels as choices).
    choices: tuple[tuple[str, str], ...] = ()
    max_chars: int | None = None  # None: limits.max_prompt_chars

    @property
    def usage(self) -> str:
        shown = " | ".join(value for value, _ in self.choices) or f"<{self.name}>"
        return shown if self.required else f"[{shown}]"

    def describe(self, language: str) -> str:
        return localised(self.description, language, self.name)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler
    description: Localised = field(default_factory=dict)
    # Aliases per language ("fr": ("blague",)); "*" applies to every language.
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    args: tuple[Arg, ...] = ()
    min_role: Role = Role.VIEWER
    cooldown_s: float | None = None  # None: limits.user_cooldown_s. 0: no cooldown.
    # Hidden commands cannot be typed with the prefix and are not in !help: adapters reach them
    # through Router.dispatch (a mention of the bot, say).
    hidden: bool = False
    languages: frozenset[str] | None = None  # offered only in these languages (None: all)
    menu: bool = True  # listed in the platforms' command menus (Discord's slash commands)
    slow: bool = False  # usually waits for the LLM: platforms show at once that it is working

    @property
    def usage(self) -> str:
        """The arguments as a usage line shows them, e.g. "<question>" or "+1 | -1 [joke]"."""
        return " ".join(arg.usage for arg in self.args)

    @property
    def needs_args(self) -> bool:
        return any(arg.required for arg in self.args)

    def line(self, values: Mapping[str, str]) -> str:
        """Arguments given one by one (a Discord option, an HTTP field) as the one line the
        handler reads, in the order they are defined."""
        given = (values.get(arg.name, "").strip() for arg in self.args)
        return " ".join(value for value in given if value)

    def offered_in(self, language: str) -> bool:
        return self.languages is None or language in self.languages

    def names(self, language: str) -> list[str]:
        """Every name it answers to in ``language``: its own, then its aliases."""
        return [self.name, *self.aliases.get("*", ()), *self.aliases.get(language, ())]

    def display_name(self, language: str) -> str:
        """The name viewers know it by in ``language`` (!blague in fr)."""
        own = self.aliases.get(language, ())
        return own[0] if own else self.name

    def describe(self, language: str) -> str:
        return localised(self.description, language, self.name)


def _unbound(_ctx: Context) -> Awaitable[Reply | None]:
    raise TypeError("a command defined with @command is bound by Component.commands()")


def command(name: str, **definition: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a Component method as the handler of a command; ``definition`` takes the other
    fields of ``Command``."""
    spec = Command(name, _unbound, **definition)

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method.__quipbot_command__ = spec  # type: ignore[attr-defined]
        return method

    return mark


class Component:
    """A group of commands that share what their handlers need (services, settings)."""

    def commands(self) -> list[Command]:
        """This component's commands, in the order they are defined, bound to it."""
        found = []
        for klass in reversed(type(self).__mro__):
            for attribute, value in vars(klass).items():
                spec = getattr(value, "__quipbot_command__", None)
                if isinstance(spec, Command):
                    found.append(dataclasses.replace(spec, handler=getattr(self, attribute)))
        return found
