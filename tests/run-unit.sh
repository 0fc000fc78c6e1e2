#!/usr/bin/env bash
# Runs each cmocka binary given; every one prints its own summary. Fails when
# any test fails.
set -u
failed=0
for t in "$@"; do
        echo "== $t"
        if ! "$t"; then
                echo "FAILED: $t"
                failed=$((failed + 1))
        fi
done
[ "$failed" -eq 0 ]
