#!/usr/bin/env bash
# Installs everything wac needs to build, test and run its demo on Debian 12.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "install-deps: run as root" >&2; exit 1; }

BUILD=(build-essential cmake pkg-config ninja-build git
  libnftables-dev libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev
  libboost-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  catch2 libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libldns-dev libsystemd-dev
  prometheus-cpp-dev libssl-dev
  clang libclang-rt-14-dev)
RUNTIME=(nftables iproute2 kmod)
TEST=(dnsmasq-base iputils-ping socat netcat-openbsd iptables ipset python3 python3-pytest procps psmisc curl openssl
  dpkg-dev rpm debootstrap
  lintian help2man python3-yaml systemd-container man-db
  python3-grpcio  # test_hostile_input.py: raw gRPC to wacd (pulls python3-protobuf)
  python3-nftables)  # test/bench/compare: libnftables one call per change

want=()
for p in "${BUILD[@]}" "${RUNTIME[@]}" "${TEST[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
  echo "install-deps: installing ${want[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
