# Herald in one image; `docker run -p 80:80 herald` serves the UI at /, /docs and /redoc.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HERALD_HOST=0.0.0.0 HERALD_PORT=80 HERALD_LOG_FORMAT=json HERALD_DATA_DIR=/data

WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY migrations ./migrations
COPY src ./src
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --system --home /data herald && mkdir -p /data && chown herald /data

USER herald
VOLUME /data
EXPOSE 80
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"HERALD_PORT\"]}/healthz')"
# With no HERALD_DATABASE_URL, `serve` runs the embedded PostgreSQL in /data.
CMD ["herald", "serve"]
