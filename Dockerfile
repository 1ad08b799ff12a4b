# Production image: the web process by default; the same image runs worker and beat (see Procfile).
# Install and release lines are the ones `make test-prod` runs (it cannot build images here).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

# gettext: msgfmt for compilemessages in the release step.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gettext >/dev/null \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --require-hashes -r requirements.txt

COPY . .
RUN useradd --system --uid 10001 --home /app app \
    && DJANGO_DEBUG=1 python manage.py release --files-only \
    && chown -R app:app /app
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health/live')"
# The build reaches no store, so it runs only the release steps that write files into the image
# (static files, message catalogs). The release proper, once per deploy before the new processes
# start, is the Procfile's `release:` line in a one-off container of this image:
#   docker run --rm --env-file prod.env IMAGE python manage.py release
CMD ["sh", "-c", "uvicorn config.asgi:application --host 0.0.0.0 --port ${PORT} --proxy-headers --ws-max-size 65536 --ws-per-message-deflate false --no-server-header --timeout-keep-alive 5 --http conversation.http_protocol:BoundedHttpToolsProtocol"]
