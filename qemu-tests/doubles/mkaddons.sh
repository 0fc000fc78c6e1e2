#!/usr/bin/env bash
# TEST add-on catalogue for the QEMU scenarios: copies the manifests of
# qemu-tests/doubles/addons/manifests to OUT/files (served from loopback by
# `mktestbundle serve` during the build) and the definitions to OUT/catalog
# with @BASE_URL@ and @SHA256:<file>@ filled in.
#   mkaddons.sh SRC-DIR OUT-DIR BASE-URL
set -euo pipefail
src=${1:?usage: mkaddons.sh SRC OUT BASE-URL}
out=${2:?usage: mkaddons.sh SRC OUT BASE-URL}
base=${3:?usage: mkaddons.sh SRC OUT BASE-URL}
rm -rf "$out.tmp"
mkdir -p "$out.tmp/files" "$out.tmp/catalog"
sed_args=(-e "s|@BASE_URL@|$base|g")
for f in "$src"/manifests/*; do
        name=$(basename "$f")
        cp "$f" "$out.tmp/files/$name"
        sed_args+=(-e "s|@SHA256:$name@|$(sha256sum "$f" | cut -d' ' -f1)|g")
done
for f in "$src"/*.yaml; do
        sed "${sed_args[@]}" "$f" >"$out.tmp/catalog/$(basename "$f")"
done
if grep -l '@[A-Z0-9_:.-]*@' "$out.tmp"/catalog/*.yaml; then
        echo "mkaddons: a placeholder was left unfilled (above)" >&2
        exit 1
fi
rm -rf "$out"
mv "$out.tmp" "$out"
