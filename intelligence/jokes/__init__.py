"""Jokes: the service (``!joke``, votes), the shared pool and its refill, each viewer's
history, the archive in SQLite, and the cleaning of what an LLM writes."""

from intelligence.jokes.archive import Vote
from intelligence.jokes.service import Joke, JokeService

__all__ = ["Joke", "JokeService", "Vote"]
