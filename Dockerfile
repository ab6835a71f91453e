# quipbot in a container. The dependencies come from requirements.lock (`make lock`) in a layer
# of their own, so a change to the code rebuilds in seconds; the bot runs without root rights and
# owns its data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# A fixed uid: a folder mounted from the host in place of the volume can be given to it
# (chown 10001).
RUN useradd --create-home --uid 10001 quipbot && mkdir /data && chown quipbot:quipbot /data

WORKDIR /app
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY bot bot
COPY commands commands
COPY intelligence intelligence
COPY config config
RUN pip install --no-deps .

USER quipbot
ENV QUIPBOT_BOT__DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["quipbot"]
CMD ["run"]
