#!/usr/bin/env bash
# Installs Debian's dataset-fashion-mnist where it is missing and apt is usable. Never fails the build:
# without it the Fashion-MNIST background is unavailable and the code says how to get it.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -d "$dir" ] && ls "$dir" | grep -q idx; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian package dataset-fashion-mnist ..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "warning: could not install dataset-fashion-mnist; run: apt-get install dataset-fashion-mnist"
else
  echo "note: Fashion-MNIST not found at $dir; install it with: sudo apt-get install dataset-fashion-mnist"
fi
exit 0
