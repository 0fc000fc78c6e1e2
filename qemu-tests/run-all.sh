#!/usr/bin/env bash
# Runs every QEMU scenario; each prints its own "N passed, N failed" line and
# this prints the total last.
#   run-all.sh [--k8s K8S-IMAGE.raw] IMAGE.raw DOUBLES-IMAGE.raw [ARCH [CROSS-IMAGE.raw CROSS-ARCH]]
# IMAGE is the product image; DOUBLES-IMAGE the same profile built with the
# kubeadm/kubectl test double (make test-image-doubles); CROSS-IMAGE the
# product image cross-built for another architecture (make test-image
# ARCH=arm64), booted by boot-basic only; K8S-IMAGE the same profile built
# from the real Kubernetes v1.20.2 bundle (make k8s-image), booted as a
# two-node cluster by k8s/cluster.sh, last. KUBESEED: the kubeseed program
# cluster-plan.sh and k8s/cluster.sh run (the Makefile passes $(B)/kubeseed).
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: run-all.sh [--k8s K8S-IMAGE.raw] IMAGE.raw DOUBLES-IMAGE.raw [ARCH [CROSS-IMAGE.raw CROSS-ARCH]]"
k8s_image=
if [ "${1:-}" = --k8s ]; then
        k8s_image=${2:?$usage}
        shift 2
fi
image=${1:?$usage}
doubles=${2:?$usage}
arch=${3:-$(dpkg --print-architecture)}
cross_image=${4:-}
cross_arch=${5:-}
if [ -n "$cross_image" ] && [ -z "$cross_arch" ]; then
        echo "run-all: no architecture given for '$cross_image' ($usage)" >&2
        exit 2
fi
for f in "$image" "$doubles" ${cross_image:+"$cross_image"} ${k8s_image:+"$k8s_image"}; do
        [ -f "$f" ] || { echo "run-all: no image '$f'" >&2; exit 1; }
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
total_pass=0
total_fail=0
run() { # scenario, image, arch
        echo "== qemu scenario: $1 ($3)"
        "$here/$1.sh" "$2" "$3" | tee "$results"
        local line
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results" | tail -n 1)
        if [ -z "$line" ]; then
                echo "run-all: $1 printed no summary" >&2
                total_fail=$((total_fail + 1))
                return
        fi
        total_pass=$((total_pass + $(cut -d' ' -f1 <<<"$line")))
        total_fail=$((total_fail + $(cut -d' ' -f3 <<<"$line")))
}
run boot-basic "$image" "$arch"
run firstboot-roles "$doubles" "$arch"
run cluster-plan "$doubles" "$arch"
[ -n "$cross_image" ] && run boot-basic "$cross_image" "$cross_arch"
[ -n "$k8s_image" ] && run k8s/cluster "$k8s_image" "$arch"
echo "qemu: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
