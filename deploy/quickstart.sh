#!/bin/sh
# Sets up and runs the main job on a fresh Debian 12 machine: installs the dependencies,
# builds mynaguard, and starts what is available. Run as root from the repository.
#   deploy/quickstart.sh            (build directory: build/)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${MG_BUILD_DIR:-$top/build}

if [ "$(id -u)" -eq 0 ]; then
  sh deploy/install-build-deps.sh
else
  echo "quickstart: not root; assuming the dependencies are installed (deploy/install-build-deps.sh)"
fi
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"

missing=0
for exe in server/mynaguard-collector agent/mynaguard-agent agent/mynaguardctl \
           pam_module/pam_mynaguard.so pam_module/mynaguard-enroll; do
  if [ -e "$build/$exe" ]; then
    echo "built:          $exe"
  else
    echo "NOT AVAILABLE:  $exe (not implemented yet; see README.md, Status)"
    missing=1
  fi
done
if [ "$missing" -ne 0 ]; then
  echo
  echo "The collector and agent are not implemented yet, so there is nothing to start."
  echo "What exists (the shared core) is exercised by the test suite: tests/run.sh"
  exit 0
fi
