/* SPDX-License-Identifier: MIT */
#include "yamltree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "macro.h"
#include "strv.h"

const struct yaml_limits yaml_default_limits = {
        .max_input = 1024 * 1024,
        .max_depth = 64,
        .max_nodes = 100000,
        .max_documents = 64,
};

#define YAML_NULL_TAG "tag:yaml.org,2002:null"

static void yaml_parser_deletep(yaml_parser_t *p) {
        yaml_parser_delete(p);
}
static void yaml_event_deletep(yaml_event_t *e) {
        yaml_event_delete(e);
}

void ynode_free(struct ynode *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_items; i++) {
                ynode_free(n->items[i]);
                if (n->keys)
                        free(n->keys[i]);
        }
        free(n->items);
        free(n->keys);
        free(n->key_lines);
        free(n->key_columns);
        free(n->tag);
        free(n->value);
        free(n);
}

/* Wipes every scalar and key (they may hold secrets), then frees. */
static void ynode_wipe(struct ynode *n) {
        if (!n)
                return;
        if (n->value)
                explicit_bzero(n->value, strlen(n->value));
        for (size_t i = 0; i < n->n_items; i++) {
                ynode_wipe(n->items[i]);
                if (n->keys && n->keys[i])
                        explicit_bzero(n->keys[i], strlen(n->keys[i]));
        }
}

void ynode_free_erase(struct ynode *n) {
        ynode_wipe(n);
        ynode_free(n);
}

void ynode_free_documents(struct ynode **docs, size_t n) {
        if (!docs)
                return;
        for (size_t i = 0; i < n; i++)
                ynode_free(docs[i]);
        free(docs);
}

static struct ynode *ynode_new(enum ynode_kind kind, size_t line, size_t column) {
        struct ynode *n = calloc(1, sizeof(*n));
        if (!n)
                return NULL;
        n->kind = kind;
        n->line = line;
        n->column = column;
        return n;
}

struct ynode *ynode_new_scalar(const char *value, bool plain, size_t line, size_t column) {
        struct ynode *n = ynode_new(YNODE_SCALAR, line, column);
        if (!n)
                return NULL;
        n->value = strdup(value ? value : "");
        if (!n->value) {
                free(n);
                return NULL;
        }
        n->plain = plain;
        return n;
}

struct ynode *ynode_new_mapping(size_t line, size_t column) {
        return ynode_new(YNODE_MAPPING, line, column);
}

/* Grow the item arrays of `n` (and the key arrays for a mapping) to hold
 * `want` entries. */
static int ynode_reserve(struct ynode *n, size_t *capacity, size_t want) {
        if (want <= *capacity)
                return 0;
        size_t cap = *capacity ? *capacity : 4;
        while (cap < want)
                cap *= 2;

        struct ynode **items = reallocarray(n->items, cap, sizeof(*items));
        if (!items)
                return -ENOMEM;
        n->items = items;
        if (n->kind == YNODE_MAPPING) {
                char **keys = reallocarray(n->keys, cap, sizeof(*keys));
                if (!keys)
                        return -ENOMEM;
                n->keys = keys;
                size_t *lines = reallocarray(n->key_lines, cap, sizeof(*lines));
                if (!lines)
                        return -ENOMEM;
                n->key_lines = lines;
                size_t *columns = reallocarray(n->key_columns, cap, sizeof(*columns));
                if (!columns)
                        return -ENOMEM;
                n->key_columns = columns;
        }
        *capacity = cap;
        return 0;
}

int ynode_map_set(struct ynode *map, const char *key, struct ynode *value, size_t key_line,
                  size_t key_column) {
        if (!map || map->kind != YNODE_MAPPING || !key || !value)
                return -EINVAL;
        for (size_t i = 0; i < map->n_items; i++)
                if (streq(map->keys[i], key)) {
                        ynode_free(map->items[i]);
                        map->items[i] = value;
                        return 0;
                }

        _cleanup_free_ char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        size_t capacity = map->n_items; /* exact: the arrays hold at least this */
        int r = ynode_reserve(map, &capacity, map->n_items + 1);
        if (r < 0)
                return r;
        map->keys[map->n_items] = TAKE_PTR(k);
        map->key_lines[map->n_items] = key_line;
        map->key_columns[map->n_items] = key_column;
        map->items[map->n_items++] = value;
        return 0;
}

struct ynode *ynode_get(const struct ynode *map, const char *key) {
        if (!map || map->kind != YNODE_MAPPING || !key)
                return NULL;
        for (size_t i = 0; i < map->n_items; i++)
                if (streq(map->keys[i], key))
                        return map->items[i];
        return NULL;
}

const char *ynode_get_str(const struct ynode *map, const char *key) {
        const struct ynode *n = ynode_get(map, key);
        if (!n || n->kind != YNODE_SCALAR)
                return NULL;
        return n->value;
}

bool ynode_parse_uint(const struct ynode *n, uint64_t max, uint64_t *ret) {
        if (!n || n->kind != YNODE_SCALAR || !n->plain || !n->value[0])
                return false;
        const char *s = n->value;
        if (s[0] == '0' && s[1])
                return false;
        uint64_t v = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                unsigned d = (unsigned) (*s - '0');
                if (v > (max - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = v;
        return true;
}

bool ynode_is_null(const struct ynode *n) {
        if (!n || n->kind != YNODE_SCALAR)
                return false;
        if (n->tag)
                return streq(n->tag, YAML_NULL_TAG);
        if (!n->plain)
                return false;
        return streq(n->value, "") || streq(n->value, "~") || streq(n->value, "null") ||
               streq(n->value, "Null") || streq(n->value, "NULL");
}

char *ystr_printable(const char *s, size_t max_len) {
        if (!s)
                s = "";
        size_t len = strnlen(s, max_len + 1);
        bool truncated = len > max_len;
        if (truncated)
                len = max_len;
        char *out = malloc(len + 4);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                out[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
        }
        if (truncated) {
                memcpy(out + len, "...", 4);
        } else
                out[len] = '\0';
        return out;
}

/* --- the event parser -------------------------------------------------- */

struct frame {
        struct ynode *node; /* owned by its parent (or by builder.root) */
        size_t capacity;
        char *key; /* YNODE_MAPPING: a key waiting for its value */
        size_t key_line, key_column;
};

struct builder {
        const struct yaml_limits *limits;
        const char *data;
        size_t size;

        struct ynode **docs;
        size_t n_docs, docs_capacity;

        struct ynode *root; /* document under construction */
        size_t n_nodes;
        struct frame *frames;
        size_t n_frames, frames_capacity;

        char *error;
};

static void builder_drop_document(struct builder *b) {
        for (size_t i = 0; i < b->n_frames; i++)
                free(b->frames[i].key);
        b->n_frames = 0;
        ynode_free(b->root);
        b->root = NULL;
        b->n_nodes = 0;
}

static void builder_done(struct builder *b) {
        builder_drop_document(b);
        free(b->frames);
        ynode_free_documents(b->docs, b->n_docs);
        free(b->error);
}

_printf_(5, 6) static int fail(struct builder *b, int r, size_t line, size_t column, const char *fmt, ...) {
        if (r == -ENOMEM || b->error)
                return r;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *reason = vstrdupf(fmt, ap);
        va_end(ap);
        if (!reason)
                return -ENOMEM;
        if (asprintf(&b->error, "%zu:%zu: %s", line, column, reason) < 0) {
                b->error = NULL;
                return -ENOMEM;
        }
        return r;
}

/* libyaml marks are 0-based; ours are 1-based. */
#define LINE(m) ((size_t) (m).line + 1)
#define COLUMN(m) ((size_t) (m).column + 1)

static int fail_libyaml(struct builder *b, const yaml_parser_t *parser) {
        if (parser->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        const char *problem = parser->problem ? parser->problem : "invalid YAML";

        if (parser->error == YAML_READER_ERROR) {
                /* Reader errors carry a byte offset, not a mark. */
                size_t line = 1, column = 1;
                for (size_t i = 0; i < parser->problem_offset && i < b->size; i++) {
                        if (b->data[i] == '\n') {
                                line++;
                                column = 1;
                        } else if (((unsigned char) b->data[i] & 0xc0) != 0x80)
                                column++;
                }
                return fail(b, -EBADMSG, line, column, "%s", problem);
        }

        size_t line = LINE(parser->problem_mark), column = COLUMN(parser->problem_mark);
        if (parser->context)
                return fail(b, -EBADMSG, line, column, "%s (%s at %zu:%zu)", problem, parser->context,
                            LINE(parser->context_mark), COLUMN(parser->context_mark));
        return fail(b, -EBADMSG, line, column, "%s", problem);
}

static int count_node(struct builder *b, const yaml_mark_t *m) {
        if (++b->n_nodes > b->limits->max_nodes)
                return fail(b, -E2BIG, LINE(*m), COLUMN(*m), "document has more than %zu nodes",
                            b->limits->max_nodes);
        return 0;
}

/* Hand `n` to its parent (or make it the document root). Takes ownership of
 * `n` in all cases. */
static int attach(struct builder *b, struct ynode *n) {
        if (b->n_frames == 0) {
                b->root = n;
                return 0;
        }
        struct frame *f = &b->frames[b->n_frames - 1];
        struct ynode *parent = f->node;
        int r = ynode_reserve(parent, &f->capacity, parent->n_items + 1);
        if (r < 0) {
                ynode_free(n);
                return r;
        }
        if (parent->kind == YNODE_MAPPING) {
                parent->keys[parent->n_items] = TAKE_PTR(f->key);
                parent->key_lines[parent->n_items] = f->key_line;
                parent->key_columns[parent->n_items] = f->key_column;
        }
        parent->items[parent->n_items++] = n;
        return 0;
}

static bool expecting_key(const struct builder *b) {
        if (b->n_frames == 0)
                return false;
        const struct frame *f = &b->frames[b->n_frames - 1];
        return f->node->kind == YNODE_MAPPING && !f->key;
}

static int check_anchor(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor) {
        if (anchor)
                return fail(b, -EBADMSG, LINE(*m), COLUMN(*m), "anchors and aliases are not supported");
        return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *e) {
        const yaml_mark_t *m = &e->start_mark;
        int r = check_anchor(b, m, e->data.scalar.anchor);
        if (r < 0)
                return r;
        r = count_node(b, m);
        if (r < 0)
                return r;
        if (memchr(e->data.scalar.value, '\0', e->data.scalar.length))
                return fail(b, -EBADMSG, LINE(*m), COLUMN(*m), "scalar contains a NUL character");

        if (expecting_key(b)) {
                struct frame *f = &b->frames[b->n_frames - 1];
                f->key = strdup((const char *) e->data.scalar.value);
                if (!f->key)
                        return -ENOMEM;
                f->key_line = LINE(*m);
                f->key_column = COLUMN(*m);
                return 0;
        }

        struct ynode *n =
                ynode_new_scalar((const char *) e->data.scalar.value,
                                 e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, LINE(*m), COLUMN(*m));
        if (!n)
                return -ENOMEM;
        if (e->data.scalar.tag) {
                n->tag = strdup((const char *) e->data.scalar.tag);
                if (!n->tag) {
                        ynode_free(n);
                        return -ENOMEM;
                }
        }
        return attach(b, n);
}

static int on_collection_start(struct builder *b, const yaml_event_t *e, enum ynode_kind kind) {
        const yaml_mark_t *m = &e->start_mark;
        const yaml_char_t *anchor =
                kind == YNODE_MAPPING ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
        const yaml_char_t *tag =
                kind == YNODE_MAPPING ? e->data.mapping_start.tag : e->data.sequence_start.tag;
        int r = check_anchor(b, m, anchor);
        if (r < 0)
                return r;
        if (expecting_key(b))
                return fail(b, -EBADMSG, LINE(*m), COLUMN(*m), "mapping keys must be scalars, not a %s",
                            kind == YNODE_MAPPING ? "mapping" : "sequence");
        r = count_node(b, m);
        if (r < 0)
                return r;
        if (b->n_frames >= b->limits->max_depth)
                return fail(b, -E2BIG, LINE(*m), COLUMN(*m), "nesting is deeper than %zu levels",
                            b->limits->max_depth);

        if (b->n_frames == b->frames_capacity) {
                size_t cap = b->frames_capacity ? b->frames_capacity * 2 : 8;
                struct frame *frames = reallocarray(b->frames, cap, sizeof(*frames));
                if (!frames)
                        return -ENOMEM;
                b->frames = frames;
                b->frames_capacity = cap;
        }

        struct ynode *n = ynode_new(kind, LINE(*m), COLUMN(*m));
        if (!n)
                return -ENOMEM;
        if (tag) {
                n->tag = strdup((const char *) tag);
                if (!n->tag) {
                        ynode_free(n);
                        return -ENOMEM;
                }
        }
        r = attach(b, n);
        if (r < 0)
                return r;
        b->frames[b->n_frames++] = (struct frame){.node = n};
        return 0;
}

static int compare_keys(const void *a, const void *b, void *userdata) {
        char **keys = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        int c = strcmp(keys[i], keys[j]);
        if (c != 0)
                return c;
        return i < j ? -1 : i > j;
}

/* Find the first (in input order) key that repeats an earlier one. */
static int check_duplicate_keys(struct builder *b, const struct ynode *map) {
        if (map->n_items < 2)
                return 0;
        _cleanup_free_ size_t *idx = reallocarray(NULL, map->n_items, sizeof(size_t));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < map->n_items; i++)
                idx[i] = i;
        qsort_r(idx, map->n_items, sizeof(size_t), compare_keys, map->keys);

        size_t dup = SIZE_MAX, first = SIZE_MAX;
        for (size_t i = 0; i + 1 < map->n_items; i++) {
                if (!streq(map->keys[idx[i]], map->keys[idx[i + 1]]))
                        continue;
                if (idx[i + 1] < dup) {
                        dup = idx[i + 1];
                        first = idx[i];
                }
                /* skip the rest of this group: its later members come after idx[i + 1] */
                while (i + 1 < map->n_items && streq(map->keys[idx[i]], map->keys[idx[i + 1]]))
                        i++;
        }
        if (dup == SIZE_MAX)
                return 0;
        _cleanup_free_ char *k = ystr_printable(map->keys[dup], 64);
        if (!k)
                return -ENOMEM;
        return fail(b, -EBADMSG, map->key_lines[dup], map->key_columns[dup],
                    "duplicate key '%s' (first at %zu:%zu)", k, map->key_lines[first],
                    map->key_columns[first]);
}

static int on_collection_end(struct builder *b) {
        if (b->n_frames == 0)
                return -EBADMSG; /* libyaml never does this */
        struct frame *f = &b->frames[b->n_frames - 1];
        if (f->node->kind == YNODE_MAPPING) {
                int r = check_duplicate_keys(b, f->node);
                if (r < 0)
                        return r;
        }
        free(f->key);
        b->n_frames--;
        return 0;
}

static int on_document_start(struct builder *b, const yaml_event_t *e) {
        if (b->n_docs >= b->limits->max_documents)
                return fail(b, -E2BIG, LINE(e->start_mark), COLUMN(e->start_mark), "more than %zu documents",
                            b->limits->max_documents);
        return 0;
}

static int on_document_end(struct builder *b) {
        if (!b->root)
                return -EBADMSG; /* libyaml always gives a document a node */
        if (b->n_docs == b->docs_capacity) {
                size_t cap = b->docs_capacity ? b->docs_capacity * 2 : 4;
                struct ynode **docs = reallocarray(b->docs, cap, sizeof(*docs));
                if (!docs)
                        return -ENOMEM;
                b->docs = docs;
                b->docs_capacity = cap;
        }
        b->docs[b->n_docs++] = TAKE_PTR(b->root);
        b->n_nodes = 0;
        return 0;
}

static int on_event(struct builder *b, const yaml_event_t *e) {
        switch (e->type) {
        case YAML_STREAM_START_EVENT:
        case YAML_STREAM_END_EVENT:
        case YAML_NO_EVENT:
                return 0;
        case YAML_DOCUMENT_START_EVENT:
                return on_document_start(b, e);
        case YAML_DOCUMENT_END_EVENT:
                return on_document_end(b);
        case YAML_ALIAS_EVENT:
                return fail(b, -EBADMSG, LINE(e->start_mark), COLUMN(e->start_mark),
                            "anchors and aliases are not supported");
        case YAML_SCALAR_EVENT:
                return on_scalar(b, e);
        case YAML_SEQUENCE_START_EVENT:
                return on_collection_start(b, e, YNODE_SEQUENCE);
        case YAML_MAPPING_START_EVENT:
                return on_collection_start(b, e, YNODE_MAPPING);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                return on_collection_end(b);
        }
        return 0;
}

static int parse_stream(struct builder *b) {
        if (b->size > b->limits->max_input)
                return fail(b, -EFBIG, 1, 1, "input is larger than %zu bytes", b->limits->max_input);

        _cleanup_(yaml_parser_deletep) yaml_parser_t parser = {};
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) (b->data ? b->data : ""), b->size);

        for (bool done = false; !done;) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                if (!yaml_parser_parse(&parser, &event))
                        return fail_libyaml(b, &parser);
                done = event.type == YAML_STREAM_END_EVENT;
                int r = on_event(b, &event);
                if (r < 0)
                        return r;
        }
        return 0;
}

int yaml_parse_documents(const char *data, size_t size, const struct yaml_limits *limits,
                         struct ynode ***ret_docs, size_t *ret_n_docs, char **ret_error) {
        if (!data && size > 0)
                return -EINVAL;
        if (!limits)
                limits = &yaml_default_limits;

        _cleanup_(builder_done) struct builder b = {
                .limits = limits,
                .data = data,
                .size = size,
        };
        int r = parse_stream(&b);
        if (r < 0) {
                if (ret_error && b.error)
                        *ret_error = TAKE_PTR(b.error);
                return r;
        }

        if (ret_docs)
                *ret_docs = TAKE_PTR(b.docs);
        if (ret_n_docs)
                *ret_n_docs = b.n_docs;
        b.n_docs = 0;
        return 0;
}

int yaml_parse_one(const char *data, size_t size, const struct yaml_limits *limits, struct ynode **ret,
                   char **ret_error) {
        struct ynode **docs = NULL;
        size_t n_docs = 0;
        int r = yaml_parse_documents(data, size, limits, &docs, &n_docs, ret_error);
        if (r < 0)
                return r;

        if (n_docs > 1) {
                size_t line = docs[1]->line, column = docs[1]->column;
                ynode_free_documents(docs, n_docs);
                if (ret_error &&
                    asprintf(ret_error, "%zu:%zu: expected a single document", line, column) < 0) {
                        *ret_error = NULL;
                        return -ENOMEM;
                }
                return -EBADMSG;
        }

        struct ynode *n = n_docs == 1 ? docs[0] : NULL;
        free(docs);
        /* An empty document ("", only comments, or a bare "---") is an empty mapping. */
        if (n && n->kind == YNODE_SCALAR && n->plain && !n->tag && streq(n->value, "")) {
                size_t line = n->line, column = n->column;
                ynode_free(n);
                n = ynode_new_mapping(line, column);
                if (!n)
                        return -ENOMEM;
        } else if (!n) {
                n = ynode_new_mapping(1, 1);
                if (!n)
                        return -ENOMEM;
        }
        if (ret)
                *ret = n;
        else
                ynode_free(n);
        return 0;
}

/* --- messages ------------------------------------------------------------- */

int yaml_parse_named(const char *name, const char *data, size_t size, const struct yaml_limits *limits,
                     struct ynode **ret, char **ret_error) {
        char *err = NULL;
        int r = yaml_parse_one(data, size, limits, ret, &err);
        if (r == -ENOMEM || r >= 0) {
                free(err);
                return r;
        }
        r = replace_error(ret_error, -EBADMSG, "%s:%s%s", name, err ? "" : " ",
                          err ? err : "not valid YAML");
        free(err);
        return r;
}

int yaml_verror(char **ret_error, const char *name, const struct ynode *at, const char *path,
                const char *fmt, va_list ap) {
        if (!ret_error)
                return -EBADMSG;
        char *what = vstrdupf(fmt, ap);
        if (!what)
                return -ENOMEM;
        char loc[64] = "";
        if (at && at->line > 0)
                snprintf(loc, sizeof loc, ":%zu:%zu", at->line, at->column);
        int r = replace_error(ret_error, -EBADMSG, "%s%s: %s%s%s", name, loc, path ? path : "",
                              path ? ": " : "", what);
        free(what);
        return *ret_error ? r : -ENOMEM;
}

int yaml_error(char **ret_error, const char *name, const struct ynode *at, const char *path, const char *fmt,
               ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = yaml_verror(ret_error, name, at, path, fmt, ap);
        va_end(ap);
        return r;
}

int ynode_check_keys(const struct ynode *map, const char *const *allowed, const char *name,
                     const char *prefix, char **ret_error) {
        for (size_t i = 0; i < map->n_items; i++) {
                if (strv_contains((char *const *) allowed, map->keys[i]))
                        continue;
                char *k = ystr_printable(map->keys[i], 64), *list = strv_join((char *const *) allowed, ", ");
                struct ynode at = {.line = map->key_lines ? map->key_lines[i] : 0,
                                   .column = map->key_columns ? map->key_columns[i] : 0};
                int r = k && list ? yaml_error(ret_error, name, &at, NULL,
                                               "%s%s: expected one of the keys %s (unknown key)", prefix, k,
                                               list)
                                  : -ENOMEM;
                free(k);
                free(list);
                return r;
        }
        return 0;
}
