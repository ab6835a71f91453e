"""A real (small) moderation model behind an OpenAI-compatible ``POST /v1/moderations``, for
``bench/moderation_bench.py``: alt-profanity-check's linear SVM, trained on English.

Run by the bench in its own virtualenv (``.venv-bench``); prints its base URL on stdout.
"""

from __future__ import annotations

import sys

from aiohttp import web
from profanity_check import predict_prob

THRESHOLD = 0.5


async def moderate(request: web.Request) -> web.Response:
    body = await request.json()
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    results = []
    for probability in predict_prob(texts):
        flagged = bool(probability >= THRESHOLD)
        results.append(
            {
                "flagged": flagged,
                "categories": {"harassment": flagged},
                "category_scores": {"harassment": float(probability)},
            }
        )
    return web.json_response(
        {"id": "modr-bench", "model": "alt-profanity-check", "results": results}
    )


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/moderations", moderate)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8801
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
