/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Writing YAML with libyaml's emitter (block style, UTF-8) into memory, so
 * quoting and escaping are libyaml's, never ours. Errors are sticky and
 * reported by yemit_finish(). */

struct yemit;

int yemit_new(struct yemit **ret);
/* Frees; the text not handed out is wiped first (it may hold secrets). */
void yemit_free(struct yemit *e);
static inline void yemit_freep(struct yemit **e) {
        if (*e)
                yemit_free(*e);
}
#define _cleanup_yemit_ __attribute__((cleanup(yemit_freep)))

/* Starts a new document (several per stream are allowed: kubeadm configs). */
void yemit_document_start(struct yemit *e);
/* The same without the "---" line (the stream's first document only). */
void yemit_document_start_implicit(struct yemit *e);
void yemit_document_end(struct yemit *e);
void yemit_map_start(struct yemit *e);
void yemit_map_end(struct yemit *e);
void yemit_seq_start(struct yemit *e);
void yemit_seq_end(struct yemit *e);
/* A string scalar: libyaml quotes it when its plain form would read as
 * another type ("true", "1.20", "") or is not valid plain YAML. */
void yemit_str(struct yemit *e, const char *s);
/* A literal scalar (numbers, booleans) written plain. */
void yemit_raw(struct yemit *e, const char *s);
/* A multi-line string in literal block style (PEM blocks). */
void yemit_block(struct yemit *e, const char *s);
void yemit_kv(struct yemit *e, const char *key, const char *value);
void yemit_kv_raw(struct yemit *e, const char *key, const char *value);

/* Ends the stream and hands out the text. 0 or a negative errno. */
int yemit_finish(struct yemit *e, char **ret, size_t *ret_size);
