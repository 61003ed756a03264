# The portal's image: gunicorn serving Django, static files collected for WhiteNoise.
# The same image runs the task worker (`python manage.py db_worker`); see compose.yaml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --shell /usr/sbin/nologin portal

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY portal ./portal
COPY sandboxes ./sandboxes
COPY templates_app ./templates_app
COPY e2b_template ./e2b_template
COPY e2b_local ./e2b_local
COPY static ./static
RUN pip install .

# collectstatic imports the settings, which insist on real secrets outside DEBUG; these
# throwaway values exist only for this build step.
RUN SECRET_KEY=collectstatic-only \
    PORTAL_ENCRYPTION_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LWtleS0wMDAwMDAwMDA= \
    PORTAL_TOKEN_PEPPER=collectstatic-only \
    python manage.py collectstatic --noinput \
 && chown -R portal:portal /app

USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
# Diagnostics and smoke tests run inside a request and may take a minute against a real E2B.
CMD ["sh", "-c", "exec gunicorn portal.wsgi --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-4} --timeout 120 --access-logfile - --forwarded-allow-ips='*'"]
