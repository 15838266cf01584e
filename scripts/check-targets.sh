#!/usr/bin/env bash
# Type-checks vault for a target CI cannot run: x86_64-apple-darwin, first the backends crate,
# then the whole workspace. `cargo check` needs no linker and no macOS SDK; the one C dependency
# (ring, under rustls) is compiled by Debian's clang, freestanding, against clang's own headers
# and three stub headers written here (TargetConditionals.h, and assert.h and string.h with the
# little of libc ring 0.17 uses). Idempotent; installs clang with apt when it is missing (needs
# root or sudo).
# Usage: bash scripts/check-targets.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-apple-darwin

rustup target add "$target"
if ! command -v clang >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

# A fixed place (not a fresh temp dir): the path is part of CFLAGS, and a new one would make
# cargo rebuild ring on every run.
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
stubs=$target_dir/check-targets/$target/include
mkdir -p "$stubs"
cat >"$stubs/TargetConditionals.h" <<'EOF'
/* Stub for type-checking on Linux: the target is macOS on x86_64. */
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_CPU_X86_64 1
EOF
cat >"$stubs/assert.h" <<'EOF'
/* Stub for type-checking on Linux. */
#ifdef NDEBUG
#define assert(x) ((void)0)
#else
#define assert(x) ((x) ? (void)0 : __builtin_trap())
#endif
EOF
cat >"$stubs/string.h" <<'EOF'
/* Stub for type-checking on Linux: what ring uses. */
#pragma once
#include <stddef.h>
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
EOF

export CC_x86_64_apple_darwin=clang
export CFLAGS_x86_64_apple_darwin="-nostdinc -isystem $(clang -print-resource-dir)/include -isystem $stubs -ffreestanding"
cargo check -p vault-backends --target "$target" --locked
cargo check --workspace --target "$target" --locked
