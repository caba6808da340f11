# Production image: gunicorn + whitenoise for the web, the same image for the Celery worker and beat.
# The base is python:3.11-slim from Docker Hub; PYTHON_IMAGE names another image with the same shape (python and pip
# on PATH, pip free to install) for a build without Docker Hub (docs/operations.md §7).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=ims_project.settings \
    IMS_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first (exact pins) so that code changes reuse this layer. Production pins only: the test, lint and
# type-check tools are in requirements-dev.lock, which the image never installs.
COPY requirements.lock ./
RUN pip install -r requirements.lock

RUN useradd --create-home --uid 1000 --user-group ims
COPY . .

# Static files are collected at build time (hashed names, compressed) and served by whitenoise.
# The settings need a database and broker URL to import; nothing connects during collectstatic.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-secret \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput -v 0 \
 && mkdir -p /app/var \
 && chown -R ims:ims /app/var

USER ims
EXPOSE 8000
# Request line, header count and header size capped (docs/limits.md); bodies are capped by MAX_REQUEST_BYTES.
CMD ["gunicorn", "ims_project.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", \
     "--limit-request-line", "8190", "--limit-request-fields", "100", "--limit-request-field_size", "8190"]
