#!/usr/bin/env bash
# Builds the real Kubernetes v1.20.2 bundle and its control-plane images from
# Debian's packages only, into the cache, and points two stable paths at
# them. See qemu-tests/k8s/README.md.
#
#   build-bundle.sh CACHE MKTESTBUNDLE CRICTL_STANDIN BUNDLE_LINK IMAGES_LINK
#
# CACHE/k8s/bundle-<key>/bundle  kubernetes.source: dir: (docs/kubernetes-bundle.md)
# CACHE/k8s/bundle-<key>/images  images.source: dir: (one OCI archive)
# BUNDLE_LINK and IMAGES_LINK become symbolic links to those two. A complete
# result (its .done marker) is reused: a warm run takes seconds.
set -euo pipefail

cache=${1:?usage: build-bundle.sh CACHE MKTESTBUNDLE CRICTL_STANDIN BUNDLE_LINK IMAGES_LINK}
mktestbundle=$(realpath "${2:?}")
crictl=$(realpath "${3:?}")
bundle_link=${4:?}
images_link=${5:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

bin=$("$here/build-binaries.sh" "$cache")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
key=$(printf '%s\n' "$bin" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY" "$DEBIAN_SUITE" "$K8S_CRICTL_VERSION" |
        cat - "$0" "$here/common.sh" "$mktestbundle" "$crictl" | sha256sum | cut -c1-16)
out=$cache/k8s/bundle-$key
mkdir -p "$cache/k8s"

link() {
        ln -sfn "$out/bundle" "$bundle_link"
        ln -sfn "$out/images" "$images_link"
        echo "k8s bundle: $bundle_link -> $out/bundle"
        echo "k8s images: $images_link -> $out/images"
}

exec 9>"$out.lock"
flock 9
if [ -e "$out/.done" ]; then
        link
        exit 0
fi
start=$(date +%s)
rm -rf "$out" "$out.tmp"
work=$out.tmp/work
mkdir -p "$work"

# ---- Debian packages: etcd, iptables and conntrack, with their libraries.
# Extracted only (no maintainer scripts run), dependencies resolved by apt.
mmdebstrap --quiet --variant=extract --include=iptables,conntrack,etcd-server "$DEBIAN_SUITE" "$work/deb" \
        "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
        "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
        "deb $DEBIAN_SECURITY $DEBIAN_SUITE-security main" >&2
deb=$work/deb
etcd_version=$("$deb/usr/bin/etcd" --version | sed -n 's/^etcd Version: //p')
[ "$etcd_version" = "$K8S_ETCD_VERSION" ] ||
        die "Debian's etcd-server is $etcd_version, expected $K8S_ETCD_VERSION (update common.sh)"

# find_lib NAME: the file of a shared library in the extracted packages.
find_lib() {
        local d
        for d in "$deb/usr/lib/$multiarch" "$deb/lib/$multiarch"; do
                if [ -e "$d/$1" ]; then
                        readlink -f "$d/$1"
                        return 0
                fi
        done
        die "shared library $1 is in none of the extracted packages"
}

# add_with_libs ROOT FILE...: every library FILE needs (recursively), as
# ROOT/usr/lib/<multiarch>/<soname>, and the dynamic loader.
add_with_libs() {
        local root=$1 f lib
        shift
        mkdir -p "$root/usr/lib/$multiarch" "$root/usr/lib64"
        for f in "$@"; do
                for lib in $(objdump -p "$f" | awk '$1 == "NEEDED" { print $2 }'); do
                        [ -e "$root/usr/lib/$multiarch/$lib" ] && continue
                        cp "$(find_lib "$lib")" "$root/usr/lib/$multiarch/$lib"
                        add_with_libs "$root" "$root/usr/lib/$multiarch/$lib"
                done
        done
        local loader=ld-linux-x86-64.so.2
        [ "$arch" = arm64 ] && loader=ld-linux-aarch64.so.1
        [ -e "$root/usr/lib/$multiarch/$loader" ] || cp "$(find_lib "$loader")" "$root/usr/lib/$multiarch/$loader"
        # Where the programs' PT_INTERP looks for it.
        if [ "$arch" = amd64 ]; then
                ln -sfn "../lib/$multiarch/$loader" "$root/usr/lib64/$loader"
        else
                ln -sfn "$multiarch/$loader" "$root/usr/lib/$loader"
        fi
}

# A merged-/usr skeleton, as Debian 12 has it.
skeleton() {
        mkdir -p "$1/usr/bin" "$1/usr/sbin" "$1/usr/lib" "$1/usr/lib64" "$1/etc" "$1/tmp" "$1/run" "$1/var"
        chmod 1777 "$1/tmp"
        ln -s usr/bin "$1/bin"
        ln -s usr/sbin "$1/sbin"
        ln -s usr/lib "$1/lib"
        ln -s usr/lib64 "$1/lib64"
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
                >"$1/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
        printf 'hosts: files dns\n' >"$1/etc/nsswitch.conf"
}

# mktar DIR TAR: a deterministic tarball of DIR's contents.
mktar() {
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
                --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
                -C "$1" -cf "$2" .
}

layers=$work/layers
mkdir -p "$layers"

# The Debian base layer: libc, iptables (nft and legacy back ends, with the
# nft one behind the plain names, as Debian's alternatives default) and
# conntrack: what kube-proxy runs. etcd's image has it too (libc).
base=$work/root-base
skeleton "$base"
cp "$deb/usr/sbin/xtables-nft-multi" "$deb/usr/sbin/xtables-legacy-multi" "$deb/usr/sbin/conntrack" "$base/usr/sbin/"
for t in iptables ip6tables; do
        for s in "" -save -restore; do
                ln -s xtables-nft-multi "$base/usr/sbin/$t$s"
                ln -s xtables-nft-multi "$base/usr/sbin/$t-nft$s"
                ln -s xtables-legacy-multi "$base/usr/sbin/$t-legacy$s"
        done
done
mkdir -p "$base/usr/lib/$multiarch"
cp -a "$deb/usr/lib/$multiarch/xtables" "$base/usr/lib/$multiarch/"
add_with_libs "$base" "$base/usr/sbin/"*-multi "$base/usr/sbin/conntrack" "$base/usr/lib/$multiarch/xtables/"*.so
# Anything etcd needs is there too (libc only, checked).
add_with_libs "$base" "$deb/usr/bin/etcd"
cp "$deb/etc/ethertypes" "$base/etc/" 2>/dev/null || true
mktar "$base" "$layers/base.tar"

mkdir -p "$work/root-etcd/usr/local/bin"
cp "$deb/usr/bin/etcd" "$work/root-etcd/usr/local/bin/etcd"
mktar "$work/root-etcd" "$layers/etcd.tar"

for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
        mkdir -p "$work/root-$c/usr/local/bin"
        cp "$bin/$c" "$work/root-$c/usr/local/bin/$c"
        mktar "$work/root-$c" "$layers/$c.tar"
done

# pause, from the Kubernetes source tree, static.
mkdir -p "$work/root-pause"
gcc -Os -static -s -DVERSION=v3.2-debian -o "$work/root-pause/pause" "$bin/pause.c"
mktar "$work/root-pause" "$layers/pause.tar"

# ---- the image archive
path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
k8s_src="Debian source package kubernetes $K8S_SRC_VERSION"
args=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
        args+=(--image "k8s.gcr.io/$c:$K8S_VERSION" --layer "$layers/$c.tar"
                --entrypoint "/usr/local/bin/$c" --env "$path" --source "$k8s_src")
done
args+=(--image "k8s.gcr.io/kube-proxy:$K8S_VERSION" --layer "$layers/base.tar" --layer "$layers/kube-proxy.tar"
        --entrypoint /usr/local/bin/kube-proxy --env "$path"
        --source "$k8s_src; iptables, conntrack: Debian $DEBIAN_SUITE")
# etcd: Debian's 3.4.23 under its own tag; the image's profile sets
# kubernetes.kubeadm.etcd-image-tag: 3.4.23, so kubeadm (and the builder's
# preload list) name this tag instead of v1.20's default 3.4.13-0.
args+=(--image "k8s.gcr.io/etcd:$K8S_ETCD_VERSION" --layer "$layers/base.tar" --layer "$layers/etcd.tar"
        --entrypoint /usr/local/bin/etcd --env "$path"
        --source "Debian package etcd-server $K8S_ETCD_VERSION")
args+=(--image "k8s.gcr.io/pause:$K8S_PAUSE_VERSION" --layer "$layers/pause.tar" --entrypoint /pause
        --source "$k8s_src: build/pause/linux/pause.c, gcc -static")
# CoreDNS is not in Debian: a stand-in holding pause, under the name kubeadm
# v1.20 gives CoreDNS. kubeadm v1.20's preflight checks that every image of
# `kubeadm config images list` is present, CoreDNS included, even when its
# phase is skipped; so the builder preloads it. It never runs: the image's
# profile sets kubernetes.kubeadm.init-skip-phases: [addon/coredns].
args+=(--image "k8s.gcr.io/coredns:$K8S_COREDNS_KUBEADM_TAG" --layer "$layers/pause.tar" --entrypoint /pause
        --source "kubeseed stand-in for CoreDNS (not in Debian): pause only, never started")
mkdir -p "$out.tmp/images"
SOURCE_DATE_EPOCH=0 "$mktestbundle" oci --arch "$arch" --out "$out.tmp/images/kubernetes-$K8S_VERSION.tar" \
        "${args[@]}" >&2

# ---- the bundle (docs/kubernetes-bundle.md)
SOURCE_DATE_EPOCH=0 "$mktestbundle" bundle --version "$K8S_VERSION" --arch "$arch" \
        --crictl-version "$K8S_CRICTL_VERSION" --cni-version "$K8S_CNI_VERSION" \
        --kubeadm "$bin/kubeadm" --kubelet "$bin/kubelet" --kubectl "$bin/kubectl" --crictl "$crictl" \
        --cni-dir /usr/lib/cni --out "$out.tmp/bundle" >&2

rm -rf "$work"
touch "$out.tmp/.done"
mv "$out.tmp" "$out"
echo "build-bundle: assembled in $(( $(date +%s) - start )) s" >&2
prune_stale "$out"
link
