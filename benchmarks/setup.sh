#!/usr/bin/env bash
# Set-up for benchmarks/e2e.py: the wrk load generator from the distribution's packages.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
wrk --version 2>&1 | head -1 || true
