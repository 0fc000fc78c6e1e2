/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct json *j, const char *s, size_t n) {
        if (j->error)
                return;
        if (j->len + n + 1 > j->cap) {
                size_t nc = j->cap ? j->cap * 2 : 1024;
                while (nc < j->len + n + 1)
                        nc *= 2;
                char *nb = realloc(j->buf, nc);
                if (!nb) {
                        j->error = -ENOMEM;
                        return;
                }
                j->buf = nb;
                j->cap = nc;
        }
        memcpy(j->buf + j->len, s, n);
        j->len += n;
        j->buf[j->len] = '\0';
}
static void puts_(struct json *j, const char *s) {
        put(j, s, strlen(s));
}
static void indent(struct json *j) {
        puts_(j, "\n");
        for (int i = 0; i < j->depth; i++)
                puts_(j, "  ");
}

/* Separator and indentation before a value or a key. */
static void before_value(struct json *j) {
        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (j->depth > 0) {
                if (!j->first[j->depth])
                        puts_(j, ",");
                j->first[j->depth] = false;
                indent(j);
        }
}

static void open_(struct json *j, const char *c) {
        before_value(j);
        puts_(j, c);
        if (j->depth + 1 >= (int) (sizeof j->first / sizeof j->first[0])) {
                j->error = -E2BIG;
                return;
        }
        j->depth++;
        j->first[j->depth] = true;
}
static void close_(struct json *j, const char *c) {
        if (j->after_key && !j->error) /* a key without its value */
                j->error = -EINVAL;
        if (j->depth <= 0) {
                if (!j->error) /* sticky: keep the first error (e.g. -E2BIG) */
                        j->error = -EINVAL;
                return;
        }
        bool empty = j->first[j->depth];
        j->depth--;
        if (!empty)
                indent(j);
        puts_(j, c);
}

void json_begin_object(struct json *j) {
        open_(j, "{");
}
void json_end_object(struct json *j) {
        close_(j, "}");
}
void json_begin_array(struct json *j) {
        open_(j, "[");
}
void json_end_array(struct json *j) {
        close_(j, "]");
}

static void quoted(struct json *j, const char *s) {
        puts_(j, "\"");
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                char esc[8];
                switch (*p) {
                case '"':
                        puts_(j, "\\\"");
                        break;
                case '\\':
                        puts_(j, "\\\\");
                        break;
                case '\n':
                        puts_(j, "\\n");
                        break;
                case '\r':
                        puts_(j, "\\r");
                        break;
                case '\t':
                        puts_(j, "\\t");
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f) {
                                snprintf(esc, sizeof esc, "\\u%04x", *p);
                                puts_(j, esc);
                        } else
                                put(j, (const char *) p, 1);
                }
        }
        puts_(j, "\"");
}

void json_key(struct json *j, const char *key) {
        if (j->after_key && !j->error) /* two keys in a row */
                j->error = -EINVAL;
        before_value(j);
        quoted(j, key);
        puts_(j, ": ");
        j->after_key = true;
}
void json_string(struct json *j, const char *s) {
        before_value(j);
        if (s)
                quoted(j, s);
        else
                puts_(j, "null");
}
void json_uint(struct json *j, uint64_t v) {
        char b[32];
        snprintf(b, sizeof b, "%" PRIu64, v);
        before_value(j);
        puts_(j, b);
}
void json_int(struct json *j, int64_t v) {
        char b[32];
        snprintf(b, sizeof b, "%" PRId64, v);
        before_value(j);
        puts_(j, b);
}
void json_bool(struct json *j, bool v) {
        before_value(j);
        puts_(j, v ? "true" : "false");
}
void json_kv_string(struct json *j, const char *key, const char *s) {
        json_key(j, key);
        json_string(j, s);
}
void json_kv_uint(struct json *j, const char *key, uint64_t v) {
        json_key(j, key);
        json_uint(j, v);
}

void json_reset(struct json *j) {
        free(j->buf);
        memset(j, 0, sizeof *j);
}

int json_finish(struct json *j, char **ret, size_t *ret_len) {
        if (!j->error && (j->depth != 0 || j->after_key))
                j->error = -EINVAL;
        puts_(j, "\n");
        int r = j->error;
        if (r < 0) {
                json_reset(j);
                return r;
        }
        *ret = j->buf;
        if (ret_len)
                *ret_len = j->len;
        j->buf = NULL;
        json_reset(j);
        return 0;
}
