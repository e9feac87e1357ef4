#!/usr/bin/env bash
# Installs what acr-migrate needs from Debian and PyPI when it is missing:
# the CNCF registry, skopeo, htpasswd, docker-compose (config validation only), chromium
# (headless, for the Prefect UI check), uv.
set -euo pipefail

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v node >/dev/null || need+=(nodejs npm)
command -v chromium >/dev/null || need+=(chromium)   # the UI check (headless)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The Debian package starts a registry on :5000 we do not use; the sandbox runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

if ! command -v uv >/dev/null; then
  echo "installing uv from PyPI"
  python3 -m pip install --quiet uv
fi
