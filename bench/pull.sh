#!/usr/bin/env bash
# The image-pull benchmark (part of make bench; runs alone too):
#
#   bench/pull.sh KUBESEED PROFILE.yaml ARCH [ROUNDS]
#
# Builds an image set (the seven images kubeadm v1.31.1 needs plus one
# docker.io image, each a multi-arch index whose ARCH image has multi-MB
# random gzip layers, some layers shared between images as base layers are),
# pushes it with skopeo into Debian's docker-registry on 127.0.0.1 over TLS
# with a test CA, then, ROUNDS times (default 3, order alternating), from
# cold:
#   kubeseed: `kubeseed preload` of PROFILE plus kubernetes.version, the
#             extra image and registry mirrors for registry.k8s.io and
#             docker.io, with an empty --cache: every image resolved and
#             pulled into the content store, then written as one OCI archive;
#   skopeo:   `skopeo copy docker://... oci-archive:FILE:TAG`, one archive
#             per image, the images one after another (as a loop would).
# Both verify TLS against the test CA and pull ARCH's image of each index.
# Prints key=value lines on stdout (bench/run.sh adds them to its results):
#   pull_images, pull_logical_bytes (every image's blobs, as skopeo's
#   archives hold them), pull_unique_bytes (kubeseed's archive: shared
#   layers once), pull_dedupe_saved_bytes (the difference),
#   kubeseed_pull_seconds, skopeo_pull_seconds (medians), pull_ratio
#   (skopeo time / kubeseed time = kubeseed's throughput in skopeo's; target
#   >= 1.0), *_runs (every round's time).
set -euo pipefail
ks=$(realpath "$1")
base_profile=$2
arch=$3
rounds=${4:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/integration/registry-lib.sh
. "$here/tests/integration/registry-lib.sh"
for tool in docker-registry skopeo openssl; do
        command -v "$tool" >/dev/null || { echo "bench/pull.sh: $tool is not installed (make deps)" >&2; exit 1; }
done
other=arm64
[ "$arch" = arm64 ] && other=amd64

work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-pull.XXXXXX")
# KS_BENCH_KEEP=1 keeps the work directory (logs, archives) for a look.
trap 'reg_stop; [ -n "${KS_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
reg_tls "$work"
reg_start "$work"

# ---- the image set ------------------------------------------------------------
MiB=$((1024 * 1024))
layout=$work/layout
oci_init "$layout"
oci_layer "$layout" $((6 * MiB)) base-a && base_a=$LAYER # the kube-* images' base
oci_layer "$layout" $((4 * MiB)) base-b && base_b=$LAYER # etcd, coredns, nginx
oci_layer "$layout" 4096 other && small=$LAYER
oci_image "$layout" "$other" "$small" && other_image=$IMAGE
n_images=0
# push REPO:TAG LAYER...: an index with ARCH's image of these layers and a
# small image for the other architecture.
push() {
        local dest=$1
        shift
        oci_image "$layout" "$arch" "$@"
        oci_index "$layout" "$arch=$IMAGE" "$other=$other_image"
        oci_push "$layout" "$INDEX" "$MT_INDEX" "$dest"
        n_images=$((n_images + 1))
}
layer() { oci_layer "$layout" $(($1 * MiB / 10)) "$2" && echo "$LAYER"; }
push kube-apiserver:v1.31.1 "$base_a" "$(layer 220 apiserver)"
push kube-controller-manager:v1.31.1 "$base_a" "$(layer 200 controller-manager)"
push kube-scheduler:v1.31.1 "$base_a" "$(layer 140 scheduler)"
push kube-proxy:v1.31.1 "$base_a" "$(layer 80 proxy-iptables)" "$(layer 120 proxy)"
push etcd:3.5.15-0 "$base_b" "$(layer 200 etcd)" "$(layer 80 etcdctl)"
push coredns/coredns:v1.11.3 "$base_b" "$(layer 120 coredns)"
push pause:3.10 "$(layer 3 pause)"
push library/nginx:1.27 "$base_b" "$(layer 100 nginx)" "$(layer 80 nginx-modules)"
rm -rf "$layout"

profile=$work/bench.yaml
cat "$base_profile" - >"$profile" <<EOF
kubernetes:
  version: v1.31.1
  crictl: {version: v1.31.1}
  cni: {version: v1.5.1}
images:
  extra: [docker.io/library/nginx:1.27]
registry-mirrors:
  registry.k8s.io: {endpoint: "$REG_URL", ca-file: "$work/ca.pem"}
  docker.io: {endpoint: "$REG_URL", ca-file: "$work/ca.pem"}
EOF
refs=(kube-apiserver:v1.31.1 kube-controller-manager:v1.31.1 kube-scheduler:v1.31.1 kube-proxy:v1.31.1
        etcd:3.5.15-0 coredns/coredns:v1.11.3 pause:3.10 library/nginx:1.27)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# Sum of the sizes of blobs/sha256/* in the archives given.
blob_bytes() {
        local f
        for f in "$@"; do tar -tvf "$f"; done | awk '$6 ~ /^blobs\/sha256\/./ { s += $3 } END { printf "%d", s }'
}

run_kubeseed() {
        rm -rf "$work/ks"
        local start
        start=$(now)
        "$ks" preload -p "$profile" --arch "$arch" --cache "$work/ks/cache" -o "$work/ks/out" \
                >"$work/ks.log" 2>&1 || { cat "$work/ks.log" >&2; exit 1; }
        ks_runs+=("$(since "$start")")
}
run_skopeo() {
        rm -rf "$work/sk"
        mkdir -p "$work/sk"
        local start ref i=0
        start=$(now)
        for ref in "${refs[@]}"; do
                i=$((i + 1))
                skopeo --insecure-policy --override-arch "$arch" copy --quiet --src-cert-dir "$work/certs" \
                        "docker://127.0.0.1:$REG_PORT/$ref" "oci-archive:$work/sk/$i.tar:${ref##*:}" \
                        >>"$work/sk.log" 2>&1 || { cat "$work/sk.log" >&2; exit 1; }
        done
        sk_runs+=("$(since "$start")")
}

ks_runs=()
sk_runs=()
for r in $(seq "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then
                run_kubeseed
                run_skopeo
        else
                run_skopeo
                run_kubeseed
        fi
        echo "bench/pull.sh: round $r: kubeseed ${ks_runs[-1]} s, skopeo ${sk_runs[-1]} s" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ks_med=$(median "${ks_runs[@]}")
sk_med=$(median "${sk_runs[@]}")
logical=$(blob_bytes "$work"/sk/*.tar)
unique=$(blob_bytes "$work"/ks/out/*.images.tar)
echo "pull_images=$n_images"
echo "pull_logical_bytes=$logical"
echo "pull_unique_bytes=$unique"
echo "pull_dedupe_saved_bytes=$((logical - unique))"
echo "pull_store_bytes=$(du -sb "$work/ks/cache/store" | cut -f1)"
echo "kubeseed_pull_seconds=$ks_med"
echo "skopeo_pull_seconds=$sk_med"
echo "pull_ratio=$(awk -v k="$ks_med" -v s="$sk_med" 'BEGIN { printf "%.2f", s / k }')"
echo "kubeseed_pull_seconds_runs=${ks_runs[*]}"
echo "skopeo_pull_seconds_runs=${sk_runs[*]}"
