# digestbot in a container: `docker build -t digestbot .`, then see compose.yaml or the README.
# Stage 1 builds the wheel and installs it with the locked dependencies into a venv;
# stage 2 copies only that venv, and runs as an unprivileged user with its data under /data.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/digestbot \
    && /opt/digestbot/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml setup.py README.md LICENSE ./
COPY bot ./bot
COPY templates ./templates
RUN /opt/digestbot/bin/pip wheel --no-deps --wheel-dir /src/dist . \
    && /opt/digestbot/bin/pip install --no-deps /src/dist/digestbot-*.whl

FROM python:3.11-slim
# DATABASE_URL and SEEDS_DIR default to the /data volume; METRICS_PORT is where
# `digestbot health` asks /healthz.
ENV PATH=/opt/digestbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/digestbot.sqlite3 \
    SEEDS_DIR=/data/seeds \
    METRICS_PORT=9100
COPY --from=build /opt/digestbot /opt/digestbot
RUN groupadd --system --gid 10001 digestbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin \
        digestbot \
    && mkdir -p /data/seeds \
    && chown -R digestbot:digestbot /data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# The bot stops cleanly on SIGTERM within its 10 s shutdown grace; give it 15 s before SIGKILL
# (`docker run --stop-timeout 15`, `stop_grace_period: 15s` in compose.yaml).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["digestbot", "health"]
CMD ["digestbot", "run"]
