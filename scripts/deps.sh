#!/usr/bin/env bash
# Install what ferry needs from Debian 12's archive (as root), skipping apt when
# everything is already there. Usage: scripts/deps.sh build|test
#   build: compiler, CMake and the libraries ferry links
#   test:  build + what the test suites start and read back (a real registry,
#          skopeo, a private Docker engine, a token server's Python modules)
set -euo pipefail

BUILD_PKGS=(g++ cmake ninja-build pkg-config ca-certificates
  libcurl4-openssl-dev libsimdjson-dev libssl-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libcli11-dev libexpected-dev nlohmann-json3-dev zlib1g-dev libgtest-dev libgmock-dev)
TEST_PKGS=(docker-registry skopeo docker.io containerd runc apache2-utils curl procps iproute2
  python3 python3-jwt python3-cryptography tar gzip clang libclang-rt-14-dev)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-build}" == test ]]; then want+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ferry: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
