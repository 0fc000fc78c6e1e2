/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "digest.h"

/* A stage key: SHA-256 over every input of a build stage, each added as a
 * named, length-prefixed field, so that the key changes exactly when an input
 * does. The stage's name and a format version are hashed first: bumping the
 * version invalidates old cache entries when the stage's own logic changes. */

struct stagekey;

int stagekey_new(const char *stage, unsigned version, struct stagekey **ret);
int stagekey_add(struct stagekey *k, const char *name, const char *value);
int stagekey_add_list(struct stagekey *k, const char *name, char *const *list);
int stagekey_add_data(struct stagekey *k, const char *name, const void *data, size_t size);
/* A directory tree: relative paths (sorted), type, permission bits, file
 * contents and symlink targets. Not owners or times (overlays are installed
 * as root:root and times are normalised). */
int stagekey_add_tree(struct stagekey *k, const char *name, const char *dir);
/* A file's contents (by its SHA-256). */
int stagekey_add_file(struct stagekey *k, const char *name, const char *path);
int stagekey_final(struct stagekey *k, char out[SHA256_HEX_LEN + 1]);
void stagekey_free(struct stagekey *k);
static inline void stagekey_freep(struct stagekey **k) {
        if (*k)
                stagekey_free(*k);
}
#define _cleanup_stagekey_ __attribute__((cleanup(stagekey_freep)))
