#!/usr/bin/env bash
# Runs every QEMU scenario against the image; each prints its own
# "N passed, N failed" line; this prints the total last.
here=$(cd "$(dirname "$0")" && pwd)
image=${1:?usage: run-all.sh IMAGE.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
[ -f "$image" ] || { echo "run-all: no image '$image'" >&2; exit 1; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
total_pass=0
total_fail=0
for s in boot-basic; do
        echo "== qemu scenario: $s"
        "$here/$s.sh" "$image" "$arch" | tee "$results"
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results" | tail -n 1)
        if [ -z "$line" ]; then
                total_fail=$((total_fail + 1))
                continue
        fi
        total_pass=$((total_pass + $(cut -d' ' -f1 <<<"$line")))
        total_fail=$((total_fail + $(cut -d' ' -f3 <<<"$line")))
done
echo "qemu: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
