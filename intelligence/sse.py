"""An incremental Server-Sent Events parser (the WHATWG rules that LLM streams rely on).

Lines end with CRLF, LF or CR; a line starting with ``:`` is a comment; several ``data:`` lines in
one event are joined with ``\\n``; a blank line dispatches the event.
"""

from __future__ import annotations

import codecs


class SSEParser:
    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._pending_cr = False  # a chunk ended with CR: a following LF belongs to it
        # UTF-8 characters may be split across network chunks.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes | str) -> list[str]:
        """Add bytes from the wire; return the data of every event completed by them."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        events: list[str] = []
        *lines, self._buffer = self._buffer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[str]:
        """End of stream: an event still missing its blank line is dispatched anyway."""
        events = self.feed("\n") if self._buffer else []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events

    def _line(self, line: str) -> str | None:
        if not line:
            if not self._data:
                return None
            event, self._data = "\n".join(self._data), []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None  # event:, id: and retry: carry nothing an LLM stream needs
