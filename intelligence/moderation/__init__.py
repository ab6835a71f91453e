"""The moderation gate: everything the bot says, and what viewers ask of the LLM, passes it.

``banphrases`` finds words and phrases however they are disguised; ``banlist`` holds the ones
in force (the built-in lists and the channel's own); ``model`` asks a moderation model;
``gate`` puts them together, caches verdicts and records blocks.
"""

from intelligence.moderation.banlist import Banlist
from intelligence.moderation.gate import Blocked, Gate, Layer, Stage, Verdict, Where
from intelligence.moderation.model import ModerationModel

__all__ = ["Banlist", "Blocked", "Gate", "Layer", "ModerationModel", "Stage", "Verdict", "Where"]
