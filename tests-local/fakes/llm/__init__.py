"""A fake OpenAI-compatible LLM server (Mistral API / LM Studio flavours) for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` (stream and non-stream) and ``GET /v1/models`` closely
enough to exercise a real client: flavour-specific chunk layout, usage placement and error
bodies, plus a FIFO fault script (HTTP errors, 429s, dropped streams, hangs) and SSE formatting
knobs (CRLF, comments, multi-line ``data:``, list content) to stress the client's parser.

In tests::

    async with FakeLLM(flavour="mistral", api_key="k") as fake:
        fake.rate_limit_next(retry_after=0.1)
        ...  # point the client at fake.base_url

Standalone (prints the base URL on stdout, logs on stderr)::

    cd tests-local && python -m fakes.llm --port 8999 --latency 1.5 --flavour lmstudio
"""

from fakes.llm.server import FakeLLM

__all__ = ["FakeLLM"]
