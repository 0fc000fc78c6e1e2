#!/usr/bin/env bash
# Installs kubeseed's build and test dependencies through apt when any is
# missing. Runs on Debian 12 and Ubuntu 24.04 as root. Idempotent and quick
# when everything is present (it checks with dpkg-query, never the network).
set -euo pipefail

packages=(
        build-essential pkg-config
        libyaml-dev libcurl4-openssl-dev libarchive-dev libssl-dev libblkid-dev zlib1g-dev libcmocka-dev
        mmdebstrap uidmap arch-test
        e2fsprogs mtools dosfstools fdisk
        systemd-boot-efi binutils
        qemu-system-x86 qemu-system-arm qemu-utils ovmf qemu-efi-aarch64
        openssl
        skopeo containerd docker-registry containernetworking-plugins
        # The real Kubernetes bundle of the tests (qemu-tests/k8s/): Go and
        # the reflect2 fix to build Debian's kubernetes source, rsync for
        # its build scripts.
        golang-1.19 golang-github-modern-go-reflect2-dev rsync
        # The other architecture's images: its rootfs runs through qemu-user
        # (binfmt_misc), its agent is cross-compiled and its UKI written by
        # that architecture's objcopy.
        qemu-user-static binfmt-support
)
case "$(dpkg --print-architecture)" in
amd64) packages+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu) ;;
arm64) packages+=(gcc-x86-64-linux-gnu binutils-x86-64-linux-gnu) ;;
esac

missing=()
for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$p")
done

if [ "${1:-}" != --force ] && [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: run 'sudo make deps' (apt-get install needs root)" >&2
        exit 1
fi
echo "install-deps: installing ${missing[*]:-(all, forced)}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
