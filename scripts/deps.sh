#!/usr/bin/env bash
# Install what ferry needs from Debian 12's archive (as root), skipping apt when
# everything is already there. Usage: scripts/deps.sh build|test|bench
#   build: compiler, CMake and the libraries ferry links
#   test:  build + what the test suites start and read back (a real registry,
#          skopeo, a private Docker engine, a token server's Python modules,
#          podman/buildah/busybox-static to build real-tool test images, a
#          private containerd)
#   bench: build + what bench/run.sh starts and measures (registry, token server,
#          skopeo, curl, GNU time for wall/CPU/peak RSS, cc for bench/blobgen.c)
set -euo pipefail

BUILD_PKGS=(g++ cmake ninja-build pkg-config ca-certificates
  libcurl4-openssl-dev libsimdjson-dev libssl-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libcli11-dev libexpected-dev nlohmann-json3-dev zlib1g-dev libzstd-dev libgtest-dev libgmock-dev)
TEST_PKGS=(docker-registry skopeo docker.io containerd runc apache2-utils curl procps iproute2
  python3 python3-jwt python3-cryptography tar gzip clang libclang-rt-14-dev
  podman buildah crun busybox-static util-linux)
BENCH_PKGS=(docker-registry skopeo curl procps python3 python3-jwt python3-cryptography
  time gcc coreutils findutils)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  bench) want+=("${BENCH_PKGS[@]}") ;;
  *) echo "scripts/deps.sh: unknown mode '$1' (build, test or bench)" >&2; exit 2 ;;
esac

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
