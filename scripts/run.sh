#!/usr/bin/env bash
# Build ferry and run its main job: one sync of the default watchlist
# (config/dockerhub.yaml: Docker Hub images into /var/lib/ferry/store, docker-load
# tarballs into /var/lib/ferry/export). Extra arguments go to `ferry sync`, e.g.
#   bash scripts/run.sh -c config/lab.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
BUILD=${FERRY_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target ferry
if (($# == 0)); then set -- -c config/dockerhub.yaml; fi
exec "$BUILD/ferry" sync --once "$@"
