#!/usr/bin/env bash
# Checks the built Kubernetes binaries on the host: each says it is v1.20.2,
# and kubeadm passes the reflect2 reproducer (README.md: with the vendored
# reflect2 v1.0.1 and Go 1.19 it panics in reflect2.(*frozenConfig).Type2).
# Prints "k8s-check: N passed, N failed".
#
#   check-binaries.sh BUNDLE_DIR
set -euo pipefail

dir=${1:?usage: check-binaries.sh BUNDLE_DIR}
passed=0
failed=0
check() {
        local name=$1
        shift
        if "$@"; then
                echo "ok: $name"
                passed=$((passed + 1))
        else
                echo "FAILED: $name"
                failed=$((failed + 1))
        fi
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check "kubeadm version -o short is v1.20.2" \
        test "$("$dir/kubeadm" version -o short)" = v1.20.2
check "kubelet --version is Kubernetes v1.20.2" \
        test "$("$dir/kubelet" --version)" = "Kubernetes v1.20.2"
check "kubectl version --client --short is v1.20.2" \
        test "$("$dir/kubectl" version --client --short)" = "Client Version: v1.20.2"
# The reproducer: kubeadm marshals the KubeletConfiguration through
# json-iterator, which reaches reflect2.
reproducer() {
        "$dir/kubeadm" config print init-defaults --component-configs KubeletConfiguration \
                >"$out/defaults" 2>"$out/err" || {
                sed -n 1,20p "$out/err"
                return 1
        }
        grep -q '^kind: KubeletConfiguration$' "$out/defaults" && ! grep -q panic "$out/err"
}
check "kubeadm config print init-defaults --component-configs KubeletConfiguration" reproducer
echo "k8s-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
