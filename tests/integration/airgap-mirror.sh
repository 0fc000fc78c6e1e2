#!/usr/bin/env bash
# Integration test of the air-gapped image path through the real CLI, with
# no internet:
#
#   tests/integration/airgap-mirror.sh KUBESEED TEST-BUNDLE-DIR [ARCH]
#
# A real registry (Debian's docker-registry, TLS from a test CA, on
# 127.0.0.1) holds the images a profile asks for: the seven kubeadm v1.31.1
# needs (registry.k8s.io), docker.io/library/busybox:1.36 and
# quay.io/kubeseed/tool:v1, some single-arch, some multi-arch indexes,
# sharing a base layer. The profile reaches all three registries only
# through its registry-mirrors setting (endpoint + ca-file). Then:
#
#   kubeseed fetch      with a single-arch image for another architecture
#                       added: refused from its config, no lock, no layer;
#   kubeseed fetch      the lock names every image with its manifest digest
#                       (and the index digest for a multi-arch one), the store
#                       holds every blob with its digest;
#   kubeseed fetch      again: not one blob requested from the registry;
#   kubeseed preload    (the build's preload stage) after a tag moved in the
#                       registry: the archive holds every name with the
#                       locked digest, every blob verified;
#   kubeseed preload --offline  with the registry stopped: the same bytes;
#                       with a layer removed from the store: fails naming the
#                       image and the blob, writes no archive.
#
# The Kubernetes bundle comes from TEST-BUNDLE-DIR (make test-bundle). Prints
# "airgap-mirror: N passed, N failed"; exits 1 when a check failed.
set -uo pipefail
ks=$(realpath "$1")
bundle=$(realpath "$2")
arch=${3:-$(dpkg --print-architecture)}
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=registry-lib.sh
. "$here/tests/integration/registry-lib.sh"
k8s_version=${TEST_K8S_VERSION:-v1.31.1}
crictl_version=${TEST_CRICTL_VERSION:-$k8s_version}
cni_version=${TEST_CNI_VERSION:-v1.1.1}
other=arm64
[ "$arch" = arm64 ] && other=amd64

passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() {
        echo "airgap-mirror: $passed passed, $failed failed"
        [ "$failed" -eq 0 ]
        exit
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
        local what=$1
        shift
        if "$@"; then pass "$what"; else fail "$what"; fi
}

for tool in docker-registry skopeo openssl; do
        if ! command -v "$tool" >/dev/null; then
                fail "$tool is installed (make deps)"
                finish
        fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-airgap.XXXXXX")
trap 'reg_stop; [ -n "${KS_TEST_KEEP:-}" ] || rm -rf "$work"' EXIT
set -eE
trap 'fail "setting up the registry and the images (line $LINENO)"; finish' ERR
reg_tls "$work"
REG_ACCESSLOG=1 reg_start "$work"

# ---- the images ----------------------------------------------------------------
layout=$work/layout
oci_init "$layout"
declare -A want_digest want_index blobs_of
oci_layer "$layout" 65536 base && base=$LAYER
oci_layer "$layout" 4096 other && small=$LAYER
oci_image "$layout" "$other" "$small" && other_image=$IMAGE
# image NAME REPO:TAG single|index: pushes NAME's image (the base layer and
# one of its own) as a single-arch manifest or in an index with another
# architecture; records what the archive must hold for NAME.
image() {
        local name=$1 dest=$2 kind=$3
        local seed=${dest%%:*}
        oci_layer "$layout" $((16384 + RANDOM)) "${seed//\//-}"
        oci_image "$layout" "$arch" "$base" "$LAYER"
        want_digest[$name]=${IMAGE%% *}
        local cfg
        cfg=$(grep -o '"config":{[^}]*}' "$layout/blobs/sha256/${IMAGE:7:64}" | grep -o 'sha256:[0-9a-f]*')
        blobs_of[$name]="${IMAGE%% *} $cfg ${base%% *} ${LAYER%% *}"
        if [ "$kind" = index ]; then
                oci_index "$layout" "$arch=$IMAGE" "$other=$other_image"
                want_index[$name]=${INDEX%% *}
                oci_push "$layout" "$INDEX" "$MT_INDEX" "$dest"
        else
                oci_push "$layout" "$IMAGE" "$MT_MANIFEST" "$dest"
        fi
}
image registry.k8s.io/kube-apiserver:v1.31.1 kube-apiserver:v1.31.1 single
image registry.k8s.io/kube-controller-manager:v1.31.1 kube-controller-manager:v1.31.1 single
image registry.k8s.io/kube-scheduler:v1.31.1 kube-scheduler:v1.31.1 single
image registry.k8s.io/kube-proxy:v1.31.1 kube-proxy:v1.31.1 single
image registry.k8s.io/etcd:3.5.15-0 etcd:3.5.15-0 single
image registry.k8s.io/coredns/coredns:v1.11.3 coredns/coredns:v1.11.3 index
image registry.k8s.io/pause:3.10 pause:3.10 index
image docker.io/library/busybox:1.36 library/busybox:1.36 index
image quay.io/kubeseed/tool:v1 kubeseed/tool:v1 single

profile=$work/airgap.yaml
lock=$work/airgap.lock
cat "$here/images/debian-bookworm.yaml" - >"$profile" <<EOF
kubernetes:
  version: $k8s_version
  source: dir:$bundle
  crictl: {version: $crictl_version}
  cni: {version: $cni_version}
images:
  extra: [busybox:1.36, quay.io/kubeseed/tool:v1]
registry-mirrors:
  registry.k8s.io: {endpoint: "$REG_URL", ca-file: "$work/ca.pem"}
  docker.io: {endpoint: "$REG_URL", ca-file: "$work/ca.pem"}
  quay.io: {endpoint: "$REG_URL", ca-file: "$work/ca.pem"}
EOF
set +eE
trap - ERR
cache=$work/cache
store=$cache/store/sha256

# ---- helpers ---------------------------------------------------------------------
# "ref VALUE" for each image of ARCH's section of the lock that has KEY.
lock_pairs() {
        awk -v a="  $arch:" -v k="$1:" '$0 == a { on = 1; next } /^  [^ ]/ { on = 0 }
                on && $1 == "-" && $2 == "ref:" { ref = $3 }
                on && $1 == k { print ref, $2 }' "$lock"
}
# same_pairs LISTING WANT WHAT: the "name digest" lines of LISTING are exactly
# the associative array named WANT.
same_pairs() {
        local listing=$1 what=$3 name got n ok=0
        local -n want=$2
        for name in "${!want[@]}"; do
                got=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$listing")
                [ "$got" = "${want[$name]}" ] || { echo "  $what: $name is '$got', expected ${want[$name]}"; ok=1; }
        done
        n=$(grep -c . <<<"$listing")
        [ "$n" -eq "${#want[@]}" ] || { echo "  $what: $n entries, expected ${#want[@]}"; ok=1; }
        return $ok
}
# Every blob of every image in DIR, each hashing to its name.
blobs_in() {
        local dir=$1 name d ok=0
        for name in "${!blobs_of[@]}"; do
                for d in ${blobs_of[$name]}; do
                        if [ ! -f "$dir/${d#sha256:}" ]; then
                                echo "  $name: $d is not in $dir"
                                ok=1
                        elif [ "$(sha256sum <"$dir/${d#sha256:}" | cut -d' ' -f1)" != "${d#sha256:}" ]; then
                                echo "  $name: $dir/${d#sha256:} does not hash to its name"
                                ok=1
                        fi
                done
        done
        return $ok
}
# kubeseed's blob requests in the registry's access log (of DIGEST alone).
blob_requests() { grep -c "\"GET /v2/[^ ]*/blobs/${1:-}[^\"]*\" [0-9]* [0-9]* \"[^\"]*\" \"kubeseed\"" "$work/registry.log"; }
store_state() { stat -c '%i %Y %n' "$store"/* | sort -k3; }
# The archive: every blob hashes to its name, every image's blobs are there,
# index.json names every image with its digest and nothing else.
archive_ok() {
        local a=$1 x=$work/x ok=0 f
        rm -rf "$x" && mkdir -p "$x" && tar -xf "$a" -C "$x" || return 1
        for f in "$x"/blobs/sha256/*; do
                [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "  $f: digest mismatch"; ok=1; }
        done
        blobs_in "$x/blobs/sha256" || ok=1
        same_pairs "$(awk -F'"' '/"digest":/ { d = $4 } /"io.containerd.image.name":/ { print $4, d }' \
                "$x/index.json")" want_digest archive || ok=1
        return $ok
}

# ---- 0. a single-arch image built for another architecture --------------------------
oci_layer "$layout" 20000 foreign && oci_image "$layout" "$other" "$base" "$LAYER" &&
        oci_push "$layout" "$IMAGE" "$MT_MANIFEST" kubeseed/foreign:v1
sed 's|extra: \[|extra: [quay.io/kubeseed/foreign:v1, |' "$profile" >"$work/foreign.yaml"
"$ks" fetch -p "$work/foreign.yaml" --arch "$arch" --cache "$work/foreign-cache" >"$work/foreign.log" 2>&1
check "fetch refuses a single-arch image for $other" [ $? -ne 0 ]
check "the refusal names the image, its platform and the target" \
        grep -q "quay.io/kubeseed/foreign:v1.*the image is for linux/$other.*not linux/$arch" "$work/foreign.log"
check "no lock is written and no layer of it downloaded" \
        [ ! -e "$work/foreign.lock" ] && [ ! -e "$work/foreign-cache/store/sha256/${LAYER:7:64}" ]

# ---- 1. fetch from cold -------------------------------------------------------------
start=$(blob_requests)
start_base=$(blob_requests "${base%% *}")
"$ks" fetch -p "$profile" --arch "$arch" --cache "$cache" >"$work/fetch1.log" 2>&1
rc=$?
check "fetch through the mirrors succeeds" [ $rc -eq 0 ] || cat "$work/fetch1.log"
check "the lock names every image with its $arch manifest digest" \
        same_pairs "$(lock_pairs digest)" want_digest lock
check "the lock records the index digest of each multi-arch image, and only theirs" \
        same_pairs "$(lock_pairs index-digest)" want_index "lock index"
check "the store holds every blob, each with its digest" blobs_in "$store"
check "every image came from the registry behind the mirrors" [ $(($(blob_requests) - start)) -ge "${#blobs_of[@]}" ]
check "the base layer all images share was downloaded once" [ $(($(blob_requests "${base%% *}") - start_base)) -eq 1 ]

# ---- 2. fetch again: the store is reused --------------------------------------------------
before=$(blob_requests)
state=$(store_state)
"$ks" fetch -p "$profile" --arch "$arch" --cache "$cache" >"$work/fetch2.log" 2>&1
check "a second fetch succeeds" [ $? -eq 0 ]
check "a second fetch requests no blob" [ "$(blob_requests)" -eq "$before" ]
check "a second fetch leaves the store's files untouched" [ "$(store_state)" = "$state" ]

# ---- 3. the build's preload stage, pinned by the lock, after a tag moved ----------------------
oci_layer "$layout" 20000 moved && oci_image "$layout" "$arch" "$base" "$LAYER" &&
        oci_push "$layout" "$IMAGE" "$MT_MANIFEST" kubeseed/tool:v1
check "the registry's quay.io/kubeseed/tool:v1 now names another image" [ "${IMAGE%% *}" != "${want_digest[quay.io/kubeseed/tool:v1]}" ]
"$ks" preload -p "$profile" --arch "$arch" --cache "$cache" -o "$work/out" >"$work/preload.log" 2>&1
check "preload from the lock succeeds" [ $? -eq 0 ] || cat "$work/preload.log"
archive=$work/out/kubeseed-debian-bookworm-$arch.images.tar
check "the archive holds every image under its name with the locked digest, every blob verified" archive_ok "$archive"
check "the locked build requested no blob" [ "$(blob_requests)" -eq "$before" ]

# ---- 4. offline, the registry stopped -------------------------------------------------------
reg_stop
mv "$archive" "$work/online.tar"
"$ks" preload --offline -p "$profile" --arch "$arch" --cache "$cache" -o "$work/out" >"$work/offline.log" 2>&1
check "preload --offline succeeds with the registry stopped" [ $? -eq 0 ] || cat "$work/offline.log"
check "the offline archive is byte for byte the online one" cmp -s "$archive" "$work/online.tar"

# ---- 5. offline with a blob missing ------------------------------------------------------------
rm -f "$archive"
read -r _ _ _ gone <<<"${blobs_of[quay.io/kubeseed/tool:v1]}"
rm -f "$store/${gone#sha256:}"
"$ks" preload --offline -p "$profile" --arch "$arch" --cache "$cache" -o "$work/out" >"$work/missing.log" 2>&1
check "preload --offline fails when a layer is missing from the store" [ $? -ne 0 ]
check "the failure names the image and the missing blob" \
        grep -q "quay.io/kubeseed/tool:v1.*${gone}" "$work/missing.log"
check "the failure names nothing else as missing" grep -q "1 item is missing" "$work/missing.log"
check "no archive is written" [ ! -e "$archive" ]
finish
