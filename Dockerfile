# chat-server, embedded mode: one process, state in the /data volume.
#   docker build -t chat-server .
#   docker run -d -p 8000:8000 -v chat-data:/data chat-server
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app

# the runtime dependencies exactly as locked (tested and audited), then the project alone;
# pip check fails the build if the lock no longer satisfies the project's requirements
RUN pip install --no-cache-dir -r requirements.lock \
    && pip install --no-cache-dir --no-deps . \
    && pip check \
    && python scripts/check-lock \
    && groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid chat --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin chat \
    && mkdir -p /data \
    && chown chat:chat /data

ENV CHAT_STATIC_DIR=/app/static \
    CHAT_DATA=/data \
    CHAT_HOST=0.0.0.0

VOLUME /data
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

USER chat
CMD ["chat-server", "serve"]
