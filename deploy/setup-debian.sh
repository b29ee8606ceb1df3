#!/usr/bin/env bash
# Installs everything vxcollector needs to build, run and test on Debian 12.
# Idempotent; run as root. Set VXC_SKIP_APT=1 to skip when already installed.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ clang
  libdpdk-dev dpdk libpcap-dev libboost-program-options-dev libspdlog-dev libcivetweb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing and sanitizers: libFuzzer and clang runtimes, coverage report
  libclang-rt-14-dev llvm-14
  # tests and demo: the independent judges and traffic sources
  tshark wireshark-common tcpdump prometheus python3 python3-scapy curl iproute2 iperf3
  tcpreplay nftables ethtool strace python3-yaml
  # terraform structure tests: HashiCorp's HCL parser from the npm registry
  nodejs
)

if [ "${VXC_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # Debian's nodejs has npm in a package of its own; NodeSource's bundles it.
  if ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends npm
  fi
fi
