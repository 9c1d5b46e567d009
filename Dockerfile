# Self-hosting image for a GPU host: docker run --gpus all -p 7860:7860 -v hf-cache:/data/hf r1v-demo
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    HF_HOME=/data/hf \
    PATH=/opt/venv/bin:$PATH

# fonts-noto-cjk: Chinese labels in the budget sweep's plot and the tiles preview.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates curl fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

# Ubuntu's image ships a user with uid 1000; the demo's user takes that id (as on Spaces).
RUN userdel --remove ubuntu 2>/dev/null; useradd --create-home --uid 1000 user \
    && mkdir -p /data/hf /opt/venv && chown -R user:user /data /opt/venv

USER 1000
WORKDIR /home/user/app

COPY --chown=user:user requirements.txt .
RUN python3 -m venv /opt/venv && pip install -r requirements.txt

COPY --chown=user:user . .

VOLUME ["/data/hf"]
EXPOSE 7860
# Readiness, not liveness: healthy only once the model is loaded (or the remote server answers);
# a failed load stays unhealthy. The start period covers the first download of a 38B checkpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30m --retries=3 \
    CMD ["curl", "--fail", "--silent", "--output", "/dev/null", "http://127.0.0.1:7860/readyz"]

CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
