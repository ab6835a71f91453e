"""OpenAI's response shapes, as bytes: a ``chat.completion`` body and ``chat.completion.chunk``
events. Everything a response repeats is encoded once; per answer, only its text goes through
``json.dumps`` (a cached answer is served far more often than it is made)."""

from __future__ import annotations

import itertools
import os
import time

from bot.http.common import SSE_DONE, dumps
from intelligence.llm import Usage

_COMPLETION = (
    b'{"id":"%s","object":"chat.completion","created":%d,"model":%s,"choices":[{"index":0,'
    b'"message":{"role":"assistant","content":%s,"refusal":null},"logprobs":null,'
    b'"finish_reason":"%s"}],"usage":%s,"system_fingerprint":null}'
)
_USAGE = b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}'
_ids = itertools.count(1)
_ID_PREFIX = f"chatcmpl-{os.getpid():x}{int(time.time()):x}"  # unique per process and start


def usage_json(usage: Usage) -> bytes:
    total = usage.prompt_tokens + usage.completion_tokens
    return _USAGE % (usage.prompt_tokens, usage.completion_tokens, total)


class CompletionShapes:
    """The shapes of one response: its id, time, model, and whether to send a usage chunk."""

    def __init__(self, model: str, *, max_tokens: int, include_usage: bool = False) -> None:
        self.id = f"{_ID_PREFIX}{next(_ids):x}"
        self.created = int(time.time())
        self.model = dumps(model)
        self.max_tokens = max_tokens
        self.include_usage = include_usage
        head = b'{"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,' % (
            self.id.encode(),
            self.created,
            self.model,
        )
        self._chunk = b'data: %s"system_fingerprint":null,"choices":[' % head
        # With include_usage, OpenAI sends "usage": null on every chunk, then a usage chunk.
        self._usage_null = b',"usage":null' if include_usage else b""

    def finish_reason(self, usage: Usage, *, filtered: bool = False) -> str:
        """ "content_filter" when the moderation gate stopped it; "length" when the answer used
        every token it was allowed (a real count only); else "stop"."""
        if filtered:
            return "content_filter"
        return "stop" if usage.estimated or usage.completion_tokens < self.max_tokens else "length"

    def completion(self, text: str, usage: Usage, *, filtered: bool = False) -> bytes:
        return _COMPLETION % (
            self.id.encode(),
            self.created,
            self.model,
            dumps(text),
            self.finish_reason(usage, filtered=filtered).encode(),
            usage_json(usage),
        )

    def _delta(self, delta: bytes, finish: bytes = b"null") -> bytes:
        choice = b'{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}' % (delta, finish)
        return self._chunk + choice + b"]" + self._usage_null + b"}\n\n"

    def role_chunk(self) -> bytes:
        return self._delta(b'{"role":"assistant","content":""}')

    def content_chunk(self, text: str) -> bytes:
        return self._delta(b'{"content":%s}' % dumps(text))

    def end_chunks(self, usage: Usage, *, filtered: bool = False) -> bytes:
        """The finish chunk, the usage chunk when asked for, and [DONE]."""
        end = self._delta(b"{}", b'"%s"' % self.finish_reason(usage, filtered=filtered).encode())
        if self.include_usage:
            end += self._chunk + b'],"usage":' + usage_json(usage) + b"}\n\n"
        return end + SSE_DONE

    def replay(self, text: str, usage: Usage, *, filtered: bool = False) -> bytes:
        """A cached answer as a whole event stream."""
        content = self.content_chunk(text) if text else b""
        return self.role_chunk() + content + self.end_chunks(usage, filtered=filtered)
