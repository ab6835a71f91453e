"""/health, /metrics, /api/stats and /api/cache/clear, with Redis and the LLM up and down."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from support.http import (  # noqa: F401 (fixtures)
    chat_body,
    fake_fixture,
    make_settings,
    server_fixture,
    start_fixture,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def ask(server, content: str = "What is the capital of France?") -> dict[str, str]:
    status, headers, raw = await server.request(
        "POST", "/v1/chat/completions", json=chat_body(content)
    )
    assert status == 200, raw
    return headers


async def test_metrics_read_the_bot_stats(server):
    await ask(server)
    await ask(server)
    status, headers, raw = await server.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    metrics = samples(raw.decode())
    assert metrics[("quipbot_cache_lookups_total", (("result", "hit"), ("tier", "l1")))] == 1
    assert metrics[("quipbot_cache_lookups_total", (("result", "miss"), ("tier", "l1")))] == 1
    assert metrics[("quipbot_answers_total", (("source", "llm"),))] == 1
    assert metrics[("quipbot_llm_calls_total", (("backend", "primary:lmstudio"),))] == 1
    assert metrics[("quipbot_llm_tokens_total", (("direction", "completion"),))] > 0
    assert metrics[("quipbot_saved_calls_total", ())] == 1
    assert metrics[("quipbot_messages_in_total", (("platform", "http"),))] == 2
    assert metrics[("quipbot_replies_out_total", (("platform", "http"),))] == 2
    closed = (("backend", "primary:lmstudio"), ("state", "closed"))
    assert metrics[("quipbot_llm_breaker_state", closed)] == 1
    assert (
        "quipbot_latency_window_seconds",
        (("name", "completions"), ("quantile", "0.99")),
    ) in metrics
    route = (("code", "200"), ("le", "+Inf"), ("route", "/v1/chat/completions"))
    assert metrics[("quipbot_http_request_duration_seconds_bucket", route)] == 2
    every = (("le", "+Inf"), ("name", "completions"))
    assert metrics[("quipbot_latency_seconds_bucket", every)] == 2  # cumulative since start
    assert metrics[("quipbot_latency_seconds_count", (("name", "completions"),))] == 2
    assert metrics[("quipbot_latency_seconds_sum", (("name", "completions"),))] > 0
    fastest = (("le", "0.0005"), ("name", "completions"))
    assert metrics[("quipbot_latency_seconds_bucket", fastest)] <= 2


async def test_api_stats_match_the_metrics(server):
    await ask(server)
    await ask(server)
    status, _, raw = await server.request("GET", "/api/stats")
    stats = json.loads(raw)
    assert status == 200
    assert stats["answers"] == {"llm": 1, "l1": 1}
    assert stats["cache"]["tiers"]["l1"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert stats["llm"]["calls"] == {"primary:lmstudio": 1}
    assert stats["llm"]["breakers"] == {"primary:lmstudio": "closed"}
    assert stats["saved"]["calls"] == 1
    assert stats["platforms"]["messages_in"] == {"http": 2}
    assert set(stats["latency_ms"]["completions"]) == {"p50", "p95", "p99"}


async def test_cache_clear_empties_the_cache(server):
    await ask(server)
    status, _, raw = await server.request("POST", "/api/cache/clear")
    assert status == 200 and json.loads(raw) == {"cleared": 1}
    assert (await ask(server))["X-Quipbot-Cache"] == "llm"
    assert server.fake.calls == 2


async def test_health_when_all_is_well_needs_no_key(server):
    status, _, raw = await server.request("GET", "/health", auth=False)
    health = json.loads(raw)
    assert status == 200
    assert health["status"] == "ok" and health["can_answer"] is True
    assert health["sqlite"] == "ok" and health["redis"] == "off"
    assert health["adapters"] == {"http": "up"}
    assert health["llm"]["breakers"] == {"primary:lmstudio": "closed"}


async def test_health_while_redis_is_down(start, fake, redis_server, tmp_path):
    settings = make_settings(tmp_path, fake)
    settings.cache.redis_url = redis_server.url
    server = await start(fake, settings)
    await ask(server)
    status, _, raw = await server.request("GET", "/health")
    assert status == 200 and json.loads(raw)["redis"] == "up"
    redis_server.stop()
    status, _, raw = await server.request("GET", "/health")
    health = json.loads(raw)
    assert status == 200  # the bot still answers, from memory
    assert (health["status"], health["redis"]) == ("degraded", "down")
    assert (await ask(server))["X-Quipbot-Cache"] == "l1"
    assert (await ask(server, "Another question entirely?"))["X-Quipbot-Cache"] == "llm"
    metrics = samples((await server.request("GET", "/metrics"))[2].decode())
    assert metrics[("quipbot_redis_up", ())] == 0


async def test_health_while_the_llm_is_down(server):
    await server.fake.stop()
    status, _, _ = await server.request("POST", "/v1/chat/completions", json=chat_body())
    assert status == 502  # tried, failed: breaker_failures = 1 opens the breaker
    status, _, raw = await server.request("GET", "/health", auth=False)
    health = json.loads(raw)
    assert status == 503
    assert health["status"] == "down" and health["can_answer"] is False
    assert health["llm"]["breakers"] == {"primary:lmstudio": "open"}
    metrics = samples((await server.request("GET", "/metrics"))[2].decode())
    opened = (("backend", "primary:lmstudio"), ("state", "open"))
    assert metrics[("quipbot_llm_breaker_state", opened)] == 1
    assert metrics[("quipbot_llm_errors_total", (("backend", "primary:lmstudio"),))] == 1


async def test_health_in_offline_mode_is_fine(start):
    server = await start(None)
    status, _, raw = await server.request("GET", "/health")
    assert status == 200 and json.loads(raw)["llm"]["breakers"] == {}
    body = chat_body(model="offline")
    status, _, raw = await server.request("POST", "/v1/chat/completions", json=body)
    assert status == 503  # no LLM to ask, and nothing cached
    assert json.loads(raw)["error"]["code"] == "llm_unavailable"
