#!/usr/bin/env bash
# The real parts that the tests (tests/common) and the benchmark (bench/run.sh) set up, headless
# and private to one run: a throwaway GnuPG key with a pass store, the docker-credential-pass
# helper under vault's name, and a D-Bus session bus with gnome-keyring's Secret Service on it.
# One copy, so what the tests check is what the benchmark measures.
#
# Source it (bench/run.sh) and call the rp_* functions, or run one as a command (the tests):
#   bash scripts/lib/real-parts.sh pass_store DIR
#   bash scripts/lib/real-parts.sh helper_link DIR
#   bash scripts/lib/real-parts.sh keyring_serve DIR PASSWORD
# A function that cannot set its part up sets RP_WHY and returns 1 (as a command: prints RP_WHY
# on stderr and exits 1). Each needs only its part's programs; scripts/setup.sh installs them.

RP_WHY=""

# rp_need PROGRAM...: fails (RP_WHY set) unless every program is on PATH.
rp_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || { RP_WHY="\`$c\` is missing"; return 1; }
  done
}

# rp_pass_store DIR: a GnuPG home DIR/g with an unprotected ed25519/cv25519 key and a
# git-tracked password store DIR/s initialised for it. Use them with GNUPGHOME=DIR/g and
# PASSWORD_STORE_DIR=DIR/s. Keep DIR short and under /tmp: gpg-agent's socket path must fit in
# 108 bytes. `GNUPGHOME=DIR/g gpgconf --kill gpg-agent` ends the agent that gpg starts.
rp_pass_store() {
  local dir=$1 fpr
  rp_need pass gpg gpgconf git || return 1
  mkdir -m 700 "$dir/g" || { RP_WHY="cannot make $dir/g"; return 1; }
  printf '%s\n' '%no-protection' 'Key-Type: eddsa' 'Key-Curve: ed25519' 'Subkey-Type: ecdh' \
    'Subkey-Curve: cv25519' 'Name-Real: vault test' 'Name-Email: test@vault.invalid' \
    'Expire-Date: 0' '%commit' >"$dir/params"
  GNUPGHOME=$dir/g gpg --batch --quiet --gen-key "$dir/params" </dev/null >&2 ||
    { RP_WHY="\`gpg --gen-key\` failed"; return 1; }
  fpr=$(GNUPGHOME=$dir/g gpg --batch --with-colons -K | awk -F: '$1 == "fpr" { print $10; exit }')
  [ -n "$fpr" ] || { RP_WHY="gpg made no key"; return 1; }
  GNUPGHOME=$dir/g PASSWORD_STORE_DIR=$dir/s pass init "$fpr" </dev/null >&2 ||
    { RP_WHY="\`pass init\` failed"; return 1; }
  GNUPGHOME=$dir/g PASSWORD_STORE_DIR=$dir/s pass git init </dev/null >&2 ||
    { RP_WHY="\`pass git init\` failed"; return 1; }
}

# rp_helper_link DIR: DIR/bin/vault-backend-pass -> Debian's docker-credential-pass, so with
# DIR/bin first on PATH the backend helper:pass works (on rp_pass_store's store).
rp_helper_link() {
  local dir=$1 real
  real=$(command -v docker-credential-pass) ||
    { RP_WHY="\`docker-credential-pass\` is missing"; return 1; }
  mkdir -p "$dir/bin" && ln -s "$real" "$dir/bin/vault-backend-pass" ||
    { RP_WHY="cannot link $dir/bin/vault-backend-pass"; return 1; }
}

# rp_keyring_serve DIR PASSWORD: a private D-Bus session bus at DIR/bus and gnome-keyring's
# Secret Service on it, its login keyring (under DIR/data) made or unlocked with PASSWORD. Once
# org.freedesktop.secrets is taken, prints the bus address as one line on stdout; then serves
# until its stdin reaches EOF (its parent closed it, or died), and ends both daemons. Run it
# with a pipe on stdin: in the background, or as a coprocess.
rp_keyring_serve() {
  local dir=$1 password=$2 address reply bus_pid keyring_pid _
  rp_need dbus-daemon dbus-send gnome-keyring-daemon || return 1
  mkdir -p "$dir/run" "$dir/data" "$dir/home" && chmod 700 "$dir/run"
  dbus-daemon --session --nofork --print-address=1 --address="unix:path=$dir/bus" \
    </dev/null >"$dir/address" 2>/dev/null &
  bus_pid=$!
  for _ in $(seq 100); do # a whole line: the address is written
    [ "$(wc -l <"$dir/address")" -ge 1 ] && break
    sleep 0.1
  done
  address=$(head -1 "$dir/address")
  if [[ $address != unix:* ]]; then
    kill "$bus_pid" 2>/dev/null
    RP_WHY="dbus-daemon printed no address in 10 s"
    return 1
  fi
  printf '%s' "$password" >"$dir/pw" # read to EOF by --unlock
  DBUS_SESSION_BUS_ADDRESS=$address XDG_RUNTIME_DIR=$dir/run XDG_DATA_HOME=$dir/data \
    HOME=$dir/home gnome-keyring-daemon --foreground --unlock --components=secrets \
    <"$dir/pw" >/dev/null 2>&1 &
  keyring_pid=$!
  for _ in $(seq 100); do
    reply=$(DBUS_SESSION_BUS_ADDRESS=$address dbus-send --session --print-reply \
      --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets 2>/dev/null) || true
    [[ $reply == *"boolean true"* ]] && break
    reply=""
    sleep 0.1
  done
  if [ -z "$reply" ]; then
    kill "$keyring_pid" "$bus_pid" 2>/dev/null
    wait "$keyring_pid" "$bus_pid" 2>/dev/null
    RP_WHY="gnome-keyring-daemon did not take org.freedesktop.secrets in 10 s"
    return 1
  fi
  printf '%s\n' "$address"
  cat >/dev/null || true # until EOF on stdin
  kill "$keyring_pid" "$bus_pid" 2>/dev/null
  wait "$keyring_pid" "$bus_pid" 2>/dev/null
  return 0
}

# As a command: run one rp_* function.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  fn=${1:-}
  case $fn in
    pass_store | helper_link | keyring_serve) ;;
    *)
      echo "usage: $0 pass_store DIR | helper_link DIR | keyring_serve DIR PASSWORD" >&2
      exit 2
      ;;
  esac
  shift
  "rp_$fn" "$@" || { echo "real-parts: $fn: ${RP_WHY:-failed}" >&2; exit 1; }
fi
