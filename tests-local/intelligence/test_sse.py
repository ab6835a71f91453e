"""The SSE parser against the edge cases real LLM servers produce."""

from __future__ import annotations

import json

import pytest

from intelligence.sse import SSEParser


def parse(*chunks: bytes | str) -> list[str]:
    parser = SSEParser()
    events: list[str] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def test_lf_and_crlf_and_cr_line_endings():
    assert parse("data: a\n\ndata: b\n\n") == ["a", "b"]
    assert parse("data: a\r\n\r\ndata: b\r\n\r\n") == ["a", "b"]
    assert parse("data: a\r\rdata: b\r\r") == ["a", "b"]


def test_crlf_split_across_chunks_is_one_line_end():
    assert parse("data: a\r", "\n\r", "\ndata: b\r\n\r\n") == ["a", "b"]


def test_comments_and_other_fields_are_ignored():
    assert parse(": keep-alive\n\nevent: x\nid: 3\nretry: 10\ndata: a\n\n") == ["a"]


def test_multi_line_data_is_joined_with_new_lines():
    payload = {"choices": [{"delta": {"content": "hi"}}]}
    text = json.dumps(payload, indent=1)
    wire = "".join(f"data: {line}\n" for line in text.split("\n")) + "\n"
    [event] = parse(wire)
    assert json.loads(event) == payload


def test_data_without_space_and_empty_data():
    # WHATWG: a bare "data" line appends an empty line, so the event's data is "".
    assert parse("data:x\n\ndata\n\n") == ["x", ""]


def test_event_split_at_every_byte():
    wire = 'data: {"a": "é€😀"}\n\ndata: [DONE]\n\n'.encode()
    assert parse(*[wire[i : i + 1] for i in range(len(wire))]) == ['{"a": "é€😀"}', "[DONE]"]


def test_unterminated_last_event_is_dispatched_at_close():
    assert parse("data: a\n\ndata: tail") == ["a", "tail"]


@pytest.mark.parametrize("blank", ["\n\n\n\n", "\r\n\r\n\r\n"])
def test_extra_blank_lines_make_no_empty_events(blank):
    assert parse(f"data: a{blank}data: b{blank}") == ["a", "b"]
