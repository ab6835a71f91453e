FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY commands commands
COPY intelligence intelligence
COPY config config
RUN pip install --no-cache-dir . && useradd --create-home quipbot && mkdir /data \
    && chown quipbot /data

USER quipbot
ENV QUIPBOT_BOT__DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["quipbot"]
CMD ["run"]
