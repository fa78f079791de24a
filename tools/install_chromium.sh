#!/usr/bin/env bash
# Install what tests/test_browser.py needs from Debian, if it is missing: Chromium, its
# driver, and a CJK font (the book uses Chinese terms; without a font they render as
# empty boxes in the screenshots). Idempotent: does nothing when all are installed, or
# when RECSYS_CHROMIUM names a Chromium binary to use instead.
#
# Where it cannot install (no apt-get, as on macOS; no root and no sudo; apt failing) it
# prints one line and exits 0: the tests run and the browser test skips. On CI
# (CI=true) the browser test is required, so there it exits 1 instead.
# Quiet: prints one line when it installs, and apt's output only on failure.
set -euo pipefail

packages=(chromium chromium-driver fonts-wqy-zenhei)

case "${CI:-}" in
    [Tt]rue|1|[Yy]es) on_ci=1 ;;
    *) on_ci=0 ;;
esac

cannot_install() {
    if [ "$on_ci" -eq 1 ]; then
        echo "install_chromium.sh: $1; CI=true requires the browser test" >&2
        exit 1
    fi
    echo "install_chromium.sh: $1; the browser test will skip (to run it, install" \
         "${packages[*]} or set RECSYS_CHROMIUM to a Chromium binary)" >&2
    exit 0
}

if [ -n "${RECSYS_CHROMIUM:-}" ] && [ -x "${RECSYS_CHROMIUM}" ]; then
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    cannot_install "apt-get not found"
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
        cannot_install "installing ${missing[*]} needs root (or sudo without a password)"
    fi
fi

echo "install_chromium.sh: installing ${missing[*]} (Debian packages)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && \
       $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    cannot_install "apt-get could not install ${missing[*]} (its output above)"
fi
