#!/usr/bin/env bash
# Fails when a banned libc call appears in the C sources (see STYLE.md).
cd "$(dirname "$0")/.."
pattern='\b(sprintf|strcpy|strcat|strtok|atoi|system|popen|gets)[[:space:]]*\('
if grep -nE "$pattern" lib/*.[ch] builder/*.[ch] firstboot/*.[ch] tests/unit/*.c | grep -vE '(snprintf|vsnprintf|asprintf|vasprintf)[[:space:]]*\(' | grep -vE '^\S+:\s*(/\*|\*)'; then
        echo "banned-calls: the calls above are not allowed (use snprintf, memcpy, strtol, proc_run)" >&2
        exit 1
fi
