/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A YAML document as a tree, built with libyaml's parser. Every node keeps
 * the line and column (1-based) where it starts, so callers can report
 * "file:line:column: what was expected". Anchors/aliases are refused (they
 * allow exponential expansion); sizes, depth and node counts are bounded. */

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

struct ynode {
        enum ynode_kind kind;
        size_t line, column;
        char *tag;   /* explicit tag or NULL */
        char *value; /* YNODE_SCALAR: the text (NUL-terminated) */
        bool plain;  /* YNODE_SCALAR: was a plain (unquoted) scalar */
        size_t n_items;
        struct ynode **items; /* YNODE_SEQUENCE: items; YNODE_MAPPING: values */
        char **keys;          /* YNODE_MAPPING: keys (scalar keys only), parallel to items */
        size_t *key_lines, *key_columns;
};

struct yaml_limits {
        size_t max_input; /* bytes */
        size_t max_depth; /* nesting */
        size_t max_nodes; /* per document */
        size_t max_documents;
};
extern const struct yaml_limits yaml_default_limits; /* 1 MiB, 64, 100000, 64 */

/* Parse every document in `data`. On error returns a negative errno and, when
 * ret_error is not NULL, an allocated "line:column: reason" (no file name: the
 * caller prefixes it). Duplicate mapping keys are an error. */
int yaml_parse_documents(const char *data, size_t size, const struct yaml_limits *limits,
                         struct ynode ***ret_docs, size_t *ret_n_docs, char **ret_error);
/* Convenience: exactly one document (an empty input gives an empty mapping). */
int yaml_parse_one(const char *data, size_t size, const struct yaml_limits *limits, struct ynode **ret,
                   char **ret_error);

void ynode_free(struct ynode *n);
void ynode_free_documents(struct ynode **docs, size_t n);
static inline void ynode_freep(struct ynode **n) {
        if (*n)
                ynode_free(*n);
}
#define _cleanup_ynode_ __attribute__((cleanup(ynode_freep)))
/* ynode_free() of a tree that held secrets: every scalar and key is wiped
 * with explicit_bzero() first. */
void ynode_free_erase(struct ynode *n);
static inline void ynode_free_erasep(struct ynode **n) {
        ynode_free_erase(*n);
}
#define _cleanup_ynode_erase_ __attribute__((cleanup(ynode_free_erasep)))

/* Mapping lookup; NULL when absent or when `map` is not a mapping. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* Scalar text of a mapping member; NULL when absent or not a scalar. */
const char *ynode_get_str(const struct ynode *map, const char *key);
/* Is this scalar YAML's null (~, null, Null, NULL, or empty plain)? */
bool ynode_is_null(const struct ynode *n);
/* A JSON number as YAML parses it: a plain scalar of decimal digits, no
 * leading zero, at most `max`. False (and *ret untouched) otherwise. */
bool ynode_parse_uint(const struct ynode *n, uint64_t max, uint64_t *ret);

/* Limits: every scalar (mapping keys included) and every collection counts
 * as a node; depth counts nested collections (a top-level mapping is 1).
 * A NULL `limits` means yaml_default_limits.
 *
 * Errors from the functions above: -EFBIG (input larger than max_input),
 * -E2BIG (too many nodes or documents, nesting deeper than max_depth),
 * -EBADMSG (syntax error, alias/anchor, duplicate or non-scalar key, NUL in a
 * scalar), -ENOMEM. */

/* Build trees by hand (e.g. to apply "--set key=value" overrides). A new
 * scalar copies `value`; line/column may be 0 for "not from the input". */
struct ynode *ynode_new_scalar(const char *value, bool plain, size_t line, size_t column);
struct ynode *ynode_new_mapping(size_t line, size_t column);
/* Set map[key] = value, replacing (and freeing) an existing value or adding
 * the key at the end. Takes ownership of `value` on success only. -EINVAL
 * when `map` is not a mapping. */
int ynode_map_set(struct ynode *map, const char *key, struct ynode *value, size_t key_line,
                  size_t key_column);

/* A copy of `s` fit for an error message: at most `max_len` bytes (then
 * "..."), control characters replaced by '?'. NULL on allocation failure. */
char *ystr_printable(const char *s, size_t max_len);

/* ---- messages about a named YAML file -------------------------------------- */

/* yaml_parse_one() whose failure is reported as "<name>:<line>:<column>:
 * reason" in *ret_error (-EBADMSG; -ENOMEM as it is). */
int yaml_parse_named(const char *name, const char *data, size_t size, const struct yaml_limits *limits,
                     struct ynode **ret, char **ret_error);

/* Replaces *ret_error (when not NULL) with "<name>:<line>:<column>: <path>:
 * <what>" (no ":<line>:<column>" when `at` is NULL or has no position, no
 * "<path>: " when path is NULL) and returns -EBADMSG, or -ENOMEM. Pass no
 * field's value in the arguments: messages never quote values. */
int yaml_error(char **ret_error, const char *name, const struct ynode *at, const char *path, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
int yaml_verror(char **ret_error, const char *name, const struct ynode *at, const char *path,
                const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Every key of the mapping one of `allowed` (NULL-terminated)? 0, or
 * yaml_error() at the first other key: "<name>:<l>:<c>: <prefix><key>:
 * expected one of the keys <allowed> (unknown key)". */
int ynode_check_keys(const struct ynode *map, const char *const *allowed, const char *name,
                     const char *prefix, char **ret_error);
