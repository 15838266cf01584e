#!/usr/bin/env bash
# Installs what vault's demo, tests and benchmarks need on a fresh Debian machine:
# Debian's age, argon2, hyperfine, pass, gnupg and docker-credential-pass (for the pass and
# helper backend tests), dbus, gnome-keyring, libsecret-tools and keyutils (for the keychain
# backend's Secret Service and kernel keyring tests), curl (the SSO tests' stand-in browser), and from PyPI moto's server mode, the AWS CLI and boto3.
# Idempotent; skips what is already there. Needs root (or sudo) for apt-get.
# `--demo`: only what scripts/demo.sh runs (moto's server mode and the AWS CLI from PyPI; no
# Debian packages), so the demo does not install a desktop keyring to show one `vault exec`.
set -euo pipefail

demo=false
[ "${1:-}" = "--demo" ] && demo=true

need_apt=()
if $demo; then :; else
for pair in age:age argon2:argon2 hyperfine:hyperfine /usr/bin/time:time useradd:passwd runuser:util-linux \
    pass:pass gpg:gnupg docker-credential-pass:golang-docker-credential-helpers \
    dbus-run-session:dbus dbus-daemon:dbus-daemon dbus-send:dbus-bin gnome-keyring-daemon:gnome-keyring \
    secret-tool:libsecret-tools keyctl:keyutils curl:curl; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if ! "$py" -c 'import moto.server, flask, boto3, awscli' >/dev/null 2>&1 || ! command -v aws >/dev/null 2>&1; then
  "$py" -m pip install -q --disable-pip-version-check 'moto[server]>=5' awscli boto3
fi
# pyenv installs console scripts behind shims that need a rehash.
command -v pyenv >/dev/null 2>&1 && pyenv rehash 2>/dev/null || true
if $demo; then
  command -v aws >/dev/null
else
  command -v aws >/dev/null && command -v age >/dev/null && command -v argon2 >/dev/null
fi
