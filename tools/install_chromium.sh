#!/usr/bin/env bash
# Install what tests/test_browser.py needs from Debian, if it is missing: Chromium, its
# driver, and a CJK font (the book uses Chinese terms; without a font they render as
# empty boxes in the screenshots). Idempotent: does nothing when all are installed.
# Quiet: prints one line when it installs, and apt's output only on failure.
set -euo pipefail

packages=(chromium chromium-driver fonts-wqy-zenhei)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: apt-get not found; install Chromium yourself" \
         "(the browser tests skip without it)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install_chromium.sh: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install_chromium.sh: installing ${missing[*]} (Debian packages)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && \
       $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
