# mistral-review in two images from one file, both published by .github/workflows/release.yml to ghcr.io:
#   the command line (the last stage; the GitLab CI job's image): the base install only, to start fast;
#   the webhook server: `docker build --target server -t mistral-review-server .` (adds the [server] extra).
# The GitHub Action builds no image: action.yml is a composite action that pip-installs its own checkout.
FROM python:3.12-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mistral-review
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY prompts ./prompts
# No USER here: CI jobs (GitLab's included) write into a workspace owned by root;
# `serve` drops to MISTRAL_REVIEW_RUN_AS itself before it opens anything.
ENTRYPOINT ["mistral-review"]

FROM base AS server
RUN pip install '.[server]' && mkdir -p /var/lib/mistral-review && chown nobody:nogroup /var/lib/mistral-review
ENV MISTRAL_REVIEW_RUN_AS=nobody MISTRAL_REVIEW_DATA_DIR=/var/lib/mistral-review
EXPOSE 8080
CMD ["serve", "--host", "0.0.0.0"]

FROM base AS cli
RUN pip install .
CMD ["--help"]
