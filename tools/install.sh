#!/usr/bin/env bash
# Install everything switchcore needs on a fresh Debian 12 machine (run as root, or with sudo).
#   tools/install.sh          the switch: system packages + the Python package (editable)
#   tools/install.sh --test   the same plus the test peers and test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Run-time system packages: libopus for mod_opus, sox/espeak-ng to regenerate prompts.
PKGS="libopus0 sox espeak-ng"
# Test peers: sipp, sipsak, baresip, kamailio, Chromium (Verto tests drive it with Playwright), tmux.
TEST_PKGS="sip-tester sipsak baresip-core kamailio chromium tmux"

want="$PKGS"
[ "${1:-}" = "--test" ] && want="$PKGS $TEST_PKGS"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $missing
fi
# Debian's kamailio package may start a system instance on 5060; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
pkill -x kamailio >/dev/null 2>&1 || true

PIP="python3 -m pip install -q --disable-pip-version-check"
if [ "${1:-}" = "--test" ]; then
  $PIP -e ".[test]"
else
  $PIP -e .
fi
