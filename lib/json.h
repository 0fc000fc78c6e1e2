/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A small streaming JSON writer (output only; kubeseed never parses JSON it
 * did not write except through a real parser). Pretty-printed, two spaces.
 * Errors (allocation, misuse) are sticky and reported by json_finish(). */

struct json {
        char *buf;
        size_t len, cap;
        int depth;
        bool first[32]; /* first member at each depth */
        bool after_key;
        int error;
};

void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s); /* NULL -> null */
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
/* Convenience: key + value. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
/* Returns 0 and hands out the NUL-terminated text (with a final newline), or
 * a negative errno. The writer is reset either way. */
int json_finish(struct json *j, char **ret, size_t *ret_len);
void json_reset(struct json *j);
