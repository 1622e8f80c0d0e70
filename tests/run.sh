#!/usr/bin/env bash
# Installs what is missing, builds (warnings are errors), and runs the whole
# test suite through CTest: the release build, then the bad-input suite and the
# kernel tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/launch/install_deps.sh" --tests

BUILD_DIR="$root/build-tests" "$root/launch/build.sh" -DBMST_WERROR=ON
(cd "$root/build-tests" && ctest --output-on-failure --timeout 1800 -j 2)

BUILD_DIR="$root/build-asan" "$root/launch/build.sh" -DBMST_WERROR=ON -DBMST_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug
(cd "$root/build-asan" && ctest --output-on-failure --timeout 1800 -L sanitize)
