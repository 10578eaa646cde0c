# The Yueban image: `yueban run` by default; any other subcommand by naming it,
# e.g. `docker run --rm IMAGE db upgrade` or `docker run --rm IMAGE admin users list`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what pyproject.toml packages: [tool.setuptools.packages.find] include.
WORKDIR /opt/yueban
COPY pyproject.toml README.md ./
COPY core ./core
COPY storage ./storage
COPY bots ./bots
COPY admin_cli ./admin_cli
COPY app ./app
RUN pip install . && rm -rf build ./*.egg-info

RUN useradd --create-home --home-dir /home/yueban --uid 10001 --user-group yueban
USER yueban
WORKDIR /home/yueban

# Inside a container every endpoint listens on all interfaces; publish the port to choose.
ENV YUEBAN_HTTP_HOST=0.0.0.0 \
    YUEBAN_HTTP_PORT=8080
EXPOSE 8080

# /healthz answers 200 while the bot is up and its database and Redis answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('YUEBAN_HTTP_PORT', '8080') + '/healthz', timeout=4)"]

ENTRYPOINT ["yueban"]
CMD ["run"]
