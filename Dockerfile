# The runtime image: onnxruntime + the Starlette service + the committed model. No TensorFlow,
# no compilers, no pip cache, no tests. Build: docker build -t mnist-service .
# Run:   docker run -p 8000:8000 --read-only --tmpfs /tmp -v mnist-data:/data mnist-service
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY pyproject.toml README.md /src/
COPY service /src/service
# Only the service package goes into the wheel (train/ and convert/ are not in this context copy).
RUN /opt/venv/bin/pip install --no-compile /src \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && find /opt/venv -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY models/mnist-cnn.onnx models/mnist-cnn.card.json /app/models/
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /data && chown app /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MNIST_MODEL_CARD=/app/models/mnist-cnn.card.json \
    MNIST_DATA_DIR=/data
# The embedded store / Cassandra outbox lives here: keep it on a volume (the root fs may be read-only).
VOLUME /data
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
