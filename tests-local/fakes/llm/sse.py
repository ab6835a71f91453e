"""Writing SSE events and error bodies as each flavour does."""

from __future__ import annotations

from aiohttp import web

from fakes.llm.model import (
    Body,
    ErrorShape,
    Fault,
    _json_response,
)


class SSEMixin:
    """Writing SSE events and error bodies as each flavour does."""

    # ------------------------------------------------------------ SSE & errors

    def _json_style(self) -> Body:
        # Pretty-printed JSON spans several lines, each sent as its own ``data:`` line; SSE
        # rejoins them with "\n", which is still valid JSON (strings never hold raw newlines).
        if self.multiline_data:
            return {"ensure_ascii": False, "indent": 1}
        return {"ensure_ascii": False, "separators": (",", ":")}

    def _event(self, data: str) -> bytes:
        eol = self.line_ending
        text = f": keep-alive{eol}{eol}" if self.comments else ""
        text += "".join(f"data: {line}{eol}" for line in data.split("\n")) + eol
        return text.encode()

    def _fault_response(self, fault: Fault) -> web.Response:
        headers = {}
        if fault.kind == "rate_limit":
            message = fault.message or "Requests rate limit exceeded"
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            err_type = "rate_limited"
        else:
            message = fault.message or f"Injected failure (HTTP {fault.status})"
            err_type = "invalid_request_error" if fault.status < 500 else "internal_server_error"
        return self._error(fault.status, message, fault.shape, err_type=err_type, headers=headers)

    def _error(
        self,
        status: int,
        message: str,
        shape: ErrorShape,
        *,
        err_type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        if shape == "auto":
            shape = "mistral" if self.flavour == "mistral" else "object"
        if shape == "text":
            html = f"<html><body><h1>{status}</h1>{message}</body></html>"
            return web.Response(status=status, text=html, content_type="text/html", headers=headers)
        body: Body
        if shape == "mistral":
            body = {
                "object": "error",
                "message": message,
                "type": err_type,
                "param": None,
                "code": None,
            }
        elif shape == "object":
            body = {"error": {"message": message, "type": err_type, "param": None, "code": None}}
        else:
            body = {"error": message}
        return _json_response(body, status=status, headers=headers)
