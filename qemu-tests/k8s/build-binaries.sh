#!/usr/bin/env bash
# Builds the Kubernetes v1.20.2 binaries from Debian's `kubernetes` source
# package into the cache and prints the directory that holds them
# (<cache>/k8s/bin-<key>/). Reuses that directory when it is complete (its
# .done marker), so a warm run takes a second. See qemu-tests/k8s/README.md.
#
#   build-binaries.sh CACHE
#
# The key covers the source package version, the Go toolchain, the reflect2
# sources that replace the vendored ones and this script (the recipe).
set -euo pipefail

cache=${1:?usage: build-binaries.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

go_version=$(dpkg-query -W -f='${Version}' golang-1.19-go)
reflect2_version=$(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)
key=$(printf '%s\n' "$K8S_SRC_VERSION" "$go_version" "$reflect2_version" "$K8S_WHAT" |
        cat - "$0" | sha256sum | cut -c1-16)
out=$cache/k8s/bin-$key
mkdir -p "$cache/k8s"

exec 9>"$out.lock"
flock 9
if [ -e "$out/.done" ]; then
        echo "$out"
        exit 0
fi

work=$cache/k8s/work-$key
rm -rf "$work" "$out"
mkdir -p "$work"
apt_private "$cache/k8s/apt"
start=$(date +%s)
(cd "$work" && apt-get "${APT_OPTS[@]}" source --only-source -qq "kubernetes=$K8S_SRC_VERSION" >&2)
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -n "$src" ] || die "apt-get source kubernetes=$K8S_SRC_VERSION unpacked nothing in $work"

# Go 1.19 with the vendored reflect2 v1.0.1 panics at run time (nil pointer
# in reflect2.(*frozenConfig).Type2, reached through json-iterator): 1.0.1
# reads runtime internals that changed in Go 1.18. 1.0.2 is the upstream fix.
# vendor/modules.txt keeps naming v1.0.1: with -mod=vendor it must agree
# with go.mod, and Go does not hash vendored sources.
rsync -a --delete /usr/share/gocode/src/github.com/modern-go/reflect2/ \
        "$src/vendor/github.com/modern-go/reflect2/"

echo "build-binaries: building $K8S_WHAT from kubernetes $K8S_SRC_VERSION (takes 10-15 minutes)" >&2
(
        cd "$src"
        export PATH=/usr/lib/go-1.19/bin:$PATH GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 \
                GOCACHE=$work/gocache GOPATH=$work/gopath
        # The tree is not a git checkout: the version comes from here.
        export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
        make WHAT="$K8S_WHAT" >&2
)
mkdir -p "$out.tmp"
for cmd in $K8S_WHAT; do
        cp "$src/_output/bin/${cmd#cmd/}" "$out.tmp/"
done
cp "$src/build/pause/linux/pause.c" "$out.tmp/pause.c"
echo "$K8S_SRC_VERSION" >"$out.tmp/SOURCE_VERSION"
touch "$out.tmp/.done"
mv "$out.tmp" "$out"
rm -rf "$work"
echo "build-binaries: built in $(( $(date +%s) - start )) s" >&2
prune_stale "$out"
echo "$out"
