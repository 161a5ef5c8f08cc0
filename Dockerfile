# Production image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # import the project from /app (not the copy pip puts in site-packages), so that
    # settings.BASE_DIR is /app and templates/, static/, locale/ are found
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    MEDIA_ROOT=/data/media

WORKDIR /app

# Dependencies first, in their own layer: with only pyproject.toml present the
# package list is empty, so this installs just the pinned dependencies.
COPY pyproject.toml ./
RUN pip install .

# The project itself.  Listed one by one so that local .venv/ and .data/ never
# enter the image.
COPY manage.py ./
COPY config ./config
COPY access ./access
COPY crm ./crm
COPY teams ./teams
COPY locking ./locking
COPY automation ./automation
COPY reviews ./reviews
COPY blueprints ./blueprints
COPY approvals ./approvals
COPY imports ./imports
COPY exports ./exports
COPY dedupe ./dedupe
COPY pool ./pool
COPY work ./work
COPY demo ./demo
COPY backup ./backup
COPY security ./security
COPY templates ./templates
COPY static ./static
COPY locale ./locale
RUN pip install --no-deps --force-reinstall . \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /data/media \
    && chown app:app /data/media

USER app
EXPOSE 8000
# The default command serves as the application's role (DATABASE_URL, held to the tenant seal);
# migrate and other operator commands run as the tables' owner:
#   docker run -e DATABASE_AS_OWNER=1 -e DATABASE_OWNER_URL=... -e DATABASE_URL=... teamcrm python manage.py migrate
# (docker-compose.yml's web service does so before starting gunicorn; docs/security.md).
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "--no-control-socket"]
