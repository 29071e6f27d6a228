#!/bin/sh
# The whole test suite, in order: check the formatting of every C source; configure with
# -Werror and ASan/UBSan (Debug), build; run each fuzz target for a short time when clang
# exists; run ctest there; then configure a plain build with no options at all (Release, no
# sanitizers: what a packager does), build it and run ctest there too.
#   tests/run.sh                 (build directories: build-test/, build-test-plain/)
# Environment: MG_BUILD_DIR, MG_FUZZ_SECONDS (default 20; 0 skips fuzzing), MG_JOBS.
# Each stage prints its duration; the last line sums them up.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${MG_BUILD_DIR:-$top/build-test}
plain="$build-plain"
jobs=${MG_JOBS:-$(nproc)}
fuzz_seconds=${MG_FUZZ_SECONDS:-20}

start=$(date +%s)
stage_start=$start
stage_name=""
timings=""
# stage KEY [TITLE]: ends the running stage (printing its duration) and starts KEY ("" ends).
stage() {
  now=$(date +%s)
  if [ -n "$stage_name" ]; then
    echo "-- $stage_name: $((now - stage_start))s"
    timings="$timings $stage_name=$((now - stage_start))s"
  fi
  stage_name=$1
  stage_start=$now
  [ -z "$1" ] || echo "== ${2:-$1}"
}

stage format "formatting (clang-format $(clang-format --version | sed 's/.*version //'))"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
bad=""
for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "clang-format would change:$bad" >&2
  echo "fix with: clang-format -i$bad" >&2
  exit 1
fi

stage build-san "build (-Werror, ASan+UBSan) in $build"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DMYNAGUARD_WERROR=ON -DMYNAGUARD_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$jobs"

if [ "$fuzz_seconds" -gt 0 ] && command -v clang >/dev/null 2>&1; then
  stage fuzz "fuzz targets, ${fuzz_seconds}s each"
  fbuild="$build-fuzz"
  CC=clang cmake -S "$top" -B "$fbuild" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMYNAGUARD_FUZZ=ON -DMYNAGUARD_TESTS=OFF -DMYNAGUARD_BENCH=OFF -DMYNAGUARD_WERROR=ON >/dev/null
  cmake --build "$fbuild" -j "$jobs"
  for f in "$fbuild"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="$top/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    echo "-- $name"
    "$f" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" >"$work.log" 2>&1 || {
      tail -n 60 "$work.log" >&2
      echo "fuzz target $name failed" >&2
      exit 1
    }
    grep -E '^(Done|#[0-9]+ *DONE)' "$work.log" | tail -n 1 || true
    rm -rf "$work" "$work.log"
  done
fi

stage ctest-san "tests (-Werror, ASan+UBSan)"
(cd "$build" && ctest --output-on-failure -j "$jobs")

stage build-plain "plain build (no options: Release, no sanitizers) in $plain"
cmake -S "$top" -B "$plain" >/dev/null
cmake --build "$plain" -j "$jobs"

stage ctest-plain "tests (plain build)"
(cd "$plain" && ctest --output-on-failure -j "$jobs")

stage ""
echo "== all passed in $(($(date +%s) - start))s:$timings"
