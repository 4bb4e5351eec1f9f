# The runtime image: onnxruntime + the Starlette service + the committed model. No TensorFlow,
# no compilers, no pip cache, no tests. Build: docker build -t mnist-service .
# Run:   docker run -p 8000:8000 --read-only --tmpfs /tmp -v mnist-data:/data mnist-service
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# binutils only in this stage: strip debug symbols from the wheels' shared libraries.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY pyproject.toml README.md /src/
COPY service /src/service
# Only the service package goes into the wheel (train/ and convert/ are not in this context copy).
# Then drop what never runs here: pip itself, test suites, ORT's offline tools (quantisation,
# transformer optimisers), ORT's C-API library (35 MB, for native consumers: the Python binding
# carries its own copy of the runtime), debug symbols of extension modules (not of the vendored
# *.libs, which strip would corrupt). Byte-compile once: the root fs may be read-only.
RUN /opt/venv/bin/pip install --no-compile /src \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && site=$(/opt/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
 && rm -rf "$site"/onnxruntime/transformers "$site"/onnxruntime/tools "$site"/onnxruntime/quantization \
      "$site"/onnxruntime/capi/libonnxruntime.so.* \
 && find /opt/venv -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} + \
 && find /opt/venv -name "*.cpython-*.so" -type f -not -path "*/numpy/*" -not -path "*.libs/*" \
      -exec strip --strip-unneeded {} + \
 && /opt/venv/bin/python -c "import numpy, onnxruntime, PIL.Image, cc3d, uvloop, httptools, yaml, cassandra.cluster" \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY models/mnist-cnn.onnx models/mnist-cnn.card.json models/mnist-cnn-int8.onnx models/mnist-cnn-int8.card.json \
     models/mnist-groups.onnx models/mnist-groups.card.json /app/models/
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /data && chown app /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MNIST_MODEL_CARD=/app/models/mnist-cnn-int8.card.json \
    MNIST_GROUPS_CARD=/app/models/mnist-groups.card.json \
    MNIST_DATA_DIR=/data \
    MNIST_HOST=0.0.0.0 \
    MNIST_PORT=8000
# The embedded store / Cassandra outbox lives here: keep it on a volume (the root fs may be read-only).
VOLUME /data
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['MNIST_PORT'], timeout=2)"]
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
