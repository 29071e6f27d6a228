#!/bin/sh
# PAM benchmark (docs/PERFORMANCE.md, section PAM): whole-stack TOTP logins through libpam
# under pam_wrapper, pam_mynaguard.so beside Debian's pam_oath.so in the same run, then FIDO2
# with the software authenticator. Prints Markdown tables.
#   bench/run-pam-bench.sh [BUILD_DIR] [N]     (default build/, N = 200)
# Build without sanitizers for numbers that mean something:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMYNAGUARD_TESTS=ON && cmake --build build
# State and credentials go under $MG_PAM_BENCH_DIR, else /run (root) or $HOME: the module
# refuses a state_dir below a group/world-writable directory such as /tmp.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-200}
lib=/usr/lib/x86_64-linux-gnu
oath=/lib/x86_64-linux-gnu/security/pam_oath.so
[ -e "$oath" ] || { echo "pam_oath.so not found: apt-get install libpam-oath" >&2; exit 1; }
bench=$build/bench/mynaguard-bench-pam
module=$build/pam_module/pam_mynaguard.so
shim=$build/tests/support/fido2/libmg_soft_fido2.so
ctl=$build/tests/support/fido2/soft-fido2-ctl
preload=$lib/libpam_wrapper.so:$lib/libnss_wrapper.so
if ldd "$bench" | grep -q libasan; then
  preload=$(gcc -print-file-name=libasan.so):$preload
  export ASAN_OPTIONS=detect_leaks=0
fi
export PAM_WRAPPER=1 PAM_WRAPPER_DISABLE_DEEPBIND=1 NSS_WRAPPER_DISABLE_DEEPBIND=1
echo "### TOTP ($n users, $(nproc) cores, $(uname -r))"
LD_PRELOAD=$preload "$bench" totp "$n" "$module" "$oath"
echo
echo "### State transaction alone ($n writes, one user)"
"$bench" state "$n"
if [ -x "$ctl" ] && [ -e "$shim" ]; then
  # In a directory of its own: as root the module talks to the keys as "nobody" and the
  # bench gives this directory to uid 65534 before each login.
  softdir=$(mktemp -d)
  trap 'rm -rf "$softdir"' EXIT
  state=$softdir/state.json
  "$ctl" init "$state" --keys 1 >/dev/null
  echo
  echo "### FIDO2 ($n logins, software authenticator, uv = discouraged)"
  MG_SOFT_FIDO2_STATE=$state LD_PRELOAD=$preload:$shim "$bench" fido2 "$n" "$module"
  rm -rf "$softdir"
fi
