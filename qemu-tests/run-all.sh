#!/usr/bin/env bash
# Runs every QEMU scenario; each prints its own "N passed, N failed" line and
# this prints the total last.
#   run-all.sh IMAGE.raw DOUBLES-IMAGE.raw [ARCH]
# IMAGE is the product image; DOUBLES-IMAGE the same profile built with the
# kubeadm/kubectl test double (make test-image-doubles). KUBESEED: the
# kubeseed program cluster-plan.sh runs (the Makefile passes $(B)/kubeseed).
here=$(cd "$(dirname "$0")" && pwd)
image=${1:?usage: run-all.sh IMAGE.raw DOUBLES-IMAGE.raw [ARCH]}
doubles=${2:?usage: run-all.sh IMAGE.raw DOUBLES-IMAGE.raw [ARCH]}
arch=${3:-$(dpkg --print-architecture)}
for f in "$image" "$doubles"; do
        [ -f "$f" ] || { echo "run-all: no image '$f'" >&2; exit 1; }
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
total_pass=0
total_fail=0
run() { # scenario, image
        echo "== qemu scenario: $1"
        "$here/$1.sh" "$2" "$arch" | tee "$results"
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
run boot-basic "$image"
run firstboot-roles "$doubles"
run cluster-plan "$doubles"
echo "qemu: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
