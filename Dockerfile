# Production image: the web process by default; the same image runs worker and beat (see Procfile).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Message catalogs: locale/*.po compiled to .mo with gettext's msgfmt, which the image then drops.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && DJANGO_DEBUG=1 python manage.py compilemessages \
    && apt-get purge -y --auto-remove gettext \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /app app \
    && DJANGO_DEBUG=1 python manage.py collectstatic --noinput \
    && chown -R app:app /app
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health/live')"
CMD ["sh", "-c", "uvicorn config.asgi:application --host 0.0.0.0 --port ${PORT} --proxy-headers --ws-max-size 65536"]
