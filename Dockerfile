# syntax=docker/dockerfile:1
# gateway-auth: docker build -t gateway-auth . && docker run -p 8000:8000 gateway-auth

# Build stage: a virtual environment with gateway-auth and its dependencies, nothing else.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/gateway-auth
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway_auth ./gateway_auth
RUN /opt/gateway-auth/bin/pip install .

# Runtime stage: the slim base, the environment, an unprivileged user and a data volume.
FROM python:3.11-slim
RUN groupadd --system --gid 10001 gateway-auth \
 && useradd --system --uid 10001 --gid gateway-auth --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin gateway-auth \
 && mkdir /data && chown gateway-auth:gateway-auth /data && chmod 0700 /data
COPY --from=build /opt/gateway-auth /opt/gateway-auth
ENV PATH=/opt/gateway-auth/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_AUTH_HOST=0.0.0.0 \
    GATEWAY_AUTH_REGISTRATION=closed \
    GATEWAY_AUTH_PORT=8000 \
    GATEWAY_AUTH_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
# The embedded default keeps its SQLite file and generated key here.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_AUTH_PORT', '8000') + os.environ.get('GATEWAY_AUTH_BASE_PATH', '') + '/healthz', timeout=2)"]
ENTRYPOINT ["gateway-auth"]
CMD ["serve"]
