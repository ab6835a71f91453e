"""Reading an OpenAI ``POST /v1/chat/completions`` body into a neutral CompletionRequest.

Every problem is an ApiError with a clear message: 400 for malformed input, 404 for another
model, 413 for too much of it, 422 for valid OpenAI features quipbot does not forward (tools,
images, top_p...). A bad request must never reach the LLM: its error would count against the
circuit breaker that every viewer shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.http.common import ApiError, has_surrogates
from intelligence.completions import CompletionRequest, Message

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
UNSUPPORTED_ROLES = frozenset({"tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name"})
UNSUPPORTED_MESSAGE_KEYS = frozenset({"tool_calls", "function_call", "tool_call_id", "audio"})
FORWARDED = "model, messages, max_tokens, temperature and seed"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _any(_value: Any) -> bool:
    return True


# Accepted and without effect on the answer.
IGNORED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "user": (lambda v: isinstance(v, str), "a string"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "store": (lambda v: isinstance(v, bool), "a boolean"),
    "service_tier": (lambda v: isinstance(v, str), "a string"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
    "prompt_cache_key": (lambda v: isinstance(v, str), "a string"),
    "safety_identifier": (lambda v: isinstance(v, str), "a string"),
}

# OpenAI parameters that change the answer and that quipbot cannot forward: accepted only at
# their neutral value. (type check, its name, is it neutral?)
NEUTRAL_ONLY: dict[str, tuple[Callable[[Any], bool], str, Callable[[Any], bool]]] = {
    "top_p": (_number, "a number", lambda v: v == 1),
    "frequency_penalty": (_number, "a number", lambda v: v == 0),
    "presence_penalty": (_number, "a number", lambda v: v == 0),
    "n": (_int, "an integer", lambda v: v == 1),
    "stop": (
        lambda v: (
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v))
        ),
        "a string or an array of strings",
        lambda v: v in ("", []),
    ),
    "logit_bias": (lambda v: isinstance(v, dict), "an object", lambda v: v == {}),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean", lambda v: v is False),
    "top_logprobs": (_int, "an integer", lambda v: v == 0),
    "response_format": (
        lambda v: isinstance(v, dict),
        "an object",
        lambda v: v == {"type": "text"},
    ),
    "tools": (lambda v: isinstance(v, list), "an array", lambda v: v == []),
    "functions": (lambda v: isinstance(v, list), "an array", lambda v: v == []),
    "tool_choice": (_any, "", lambda v: v in ("none", "auto")),
    "function_call": (_any, "", lambda v: v in ("none", "auto")),
    "modalities": (lambda v: isinstance(v, list), "an array", lambda v: v == ["text"]),
    "audio": (_any, "", lambda v: False),
    "prediction": (_any, "", lambda v: False),
    "reasoning_effort": (_any, "", lambda v: False),
    "verbosity": (_any, "", lambda v: False),
    "web_search_options": (_any, "", lambda v: False),
}
FORWARDED_KEYS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "seed",
        "stream",
        "stream_options",
    }
)
KNOWN = frozenset(FORWARDED_KEYS | IGNORED.keys() | NEUTRAL_ONLY.keys())


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    request: CompletionRequest
    stream: bool
    include_usage: bool  # stream_options.include_usage: a last chunk with the usage
    user: str | None  # the body's ``user``, an end-user id for the log


@dataclass(frozen=True, slots=True)
class Limits:
    model: str
    max_messages: int
    max_input_chars: int
    max_tokens: int


def bad(message: str, param: str | None = None, *, status: int = 400) -> ApiError:
    code = {400: "invalid_value", 413: "too_large", 422: "unsupported"}.get(status)
    return ApiError(status, message, code=code, param=param)


def parse_completion(body: Any, limits: Limits) -> ParsedCompletion:
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    for key, value in body.items():  # a body has a few keys: check those, not every known one
        if key not in KNOWN:
            raise bad(f"unrecognized request argument supplied: {key[:100]}", key[:100])
        if value is not None and key not in FORWARDED_KEYS:
            _check_optional(key, value)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required: a string, e.g. " + repr(limits.model), "model")
    if model != limits.model:
        raise ApiError(
            404,
            f"the model {model[:100]!r} does not exist here; this server serves {limits.model!r}",
            code="model_not_found",
            param="model",
        )
    messages = _messages(body.get("messages"), limits)
    max_tokens = _max_tokens(body, limits.max_tokens)
    temperature = body.get("temperature")
    if temperature is not None and not (_number(temperature) and 0 <= temperature <= 2):
        raise bad("temperature must be a number from 0 to 2", "temperature")
    seed = body.get("seed")
    if seed is not None and not (_int(seed) and -(2**63) <= seed < 2**63):
        raise bad("seed must be a 64-bit integer", "seed")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad("stream_options must be an object", "stream_options")
    include_usage = (options or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise bad("stream_options.include_usage must be a boolean", "stream_options")
    request = CompletionRequest(
        messages,
        max_tokens=max_tokens,
        temperature=None if temperature is None else float(temperature),
        seed=seed,
    )
    return ParsedCompletion(request, bool(stream), bool(include_usage), body.get("user"))


def _check_optional(key: str, value: Any) -> None:
    """An accepted-and-ignored or a neutral-only parameter (``value`` is not None)."""
    ignored = IGNORED.get(key)
    if ignored is not None:
        type_ok, type_name = ignored
        if not type_ok(value):
            raise bad(f"{key} must be {type_name}", key)
        if key == "user" and (len(value) > 256 or has_surrogates(value)):
            raise bad("user must be at most 256 characters of valid text", "user")
        return
    type_ok, type_name, neutral = NEUTRAL_ONLY[key]
    if not type_ok(value):
        raise bad(f"{key} must be {type_name}", key)
    if not neutral(value):
        raise bad(f"{key} is not supported: quipbot forwards only {FORWARDED}", key, status=422)


def _messages(raw: Any, limits: Limits) -> tuple[Message, ...]:
    if raw is None:
        raise bad("messages is required: an array of {role, content} objects", "messages")
    if not isinstance(raw, list):
        raise bad("messages must be an array of {role, content} objects", "messages")
    if not raw:
        raise bad("messages must not be empty", "messages")
    if len(raw) > limits.max_messages:
        raise bad(
            f"too many messages ({len(raw)}); at most {limits.max_messages}",
            "messages",
            status=413,
        )
    messages = tuple(_message(item, f"messages[{i}]") for i, item in enumerate(raw))
    total = sum(len(m.content) for m in messages)
    if total > limits.max_input_chars:
        raise bad(
            f"the messages hold {total} characters; at most {limits.max_input_chars}",
            "messages",
            status=413,
        )
    if messages[-1].role != "user":
        raise bad("the last message must have the role user", "messages", status=422)
    return messages


def _message(item: Any, param: str) -> Message:
    if not isinstance(item, dict):
        raise bad(f"{param} must be an object with role and content", param)
    for key in item:
        if key in UNSUPPORTED_MESSAGE_KEYS:
            raise bad(f"{param}.{key} is not supported (no tools here)", param, status=422)
        if key not in MESSAGE_KEYS:
            raise bad(f"unknown key {key[:50]!r} in {param}", param)
    role = item.get("role")
    if not isinstance(role, str):
        raise bad(f"{param}.role is required: system, developer, user or assistant", param)
    if role in UNSUPPORTED_ROLES:
        raise bad(f"{param}: the role {role} is not supported (no tools here)", param, status=422)
    if role not in ROLES:
        raise bad(
            f"{param}: unknown role {role[:50]!r}; use system, developer, user or assistant",
            param,
        )
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise bad(f"{param}.name must be a string", param)
    content = _content(item.get("content"), param)
    if has_surrogates(content):
        raise bad(f"{param}.content is not valid Unicode (a lone surrogate)", param)
    return Message(ROLES[role], content)


def _content(value: Any, param: str) -> str:
    """A string, or an array of parts of which only text parts are supported."""
    if isinstance(value, str):
        return value
    if value is None:
        raise bad(f"{param}.content is required", param)
    if not isinstance(value, list):
        raise bad(f"{param}.content must be a string or an array of text parts", param)
    texts = []
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_audio", "file"):
            raise bad(f"{param}: {kind} parts are not supported (text only)", param, status=422)
        else:
            raise bad(f"{param}.content parts must be {{type: text, text: string}}", param)
    return "".join(texts)


def _max_tokens(body: dict[str, Any], ceiling: int) -> int | None:
    name = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    value = body.get(name)
    if value is None:
        return None
    if not (_int(value) and 1 <= value <= ceiling):
        raise bad(f"{name} must be an integer from 1 to {ceiling} (llm.max_tokens)", name)
    return value
