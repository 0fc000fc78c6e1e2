/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Machine facts the agent records for people and later steps:
 * FACTS_PATH below the root prefix, written atomically, mode 0644 (no secrets:
 * user-data is described by its size only).
 *
 * Format: '#' comment lines, then one "key=value" per line, keys in this
 * order: machine (uname -m), kernel_release (uname -r), instance_id,
 * hostname (local-hostname from meta-data; empty when absent), source (where
 * the metadata came from), role, user_data_size (bytes). Values are escaped
 * like the state file's text (lib/state.h: "\s" space, "\n", "\\", "\xHH"). */

#define FACTS_PATH "/var/lib/kubeseed/facts"

struct facts {
        const char *machine;
        const char *kernel_release;
        const char *instance_id;
        const char *hostname;
        const char *source;
        const char *role;
        size_t user_data_size;
};

/* Pure: the file's text. */
int facts_serialize(const struct facts *f, char **ret, size_t *ret_size);
/* Write FACTS_PATH below root. */
int facts_save(const char *root, const struct facts *f);
