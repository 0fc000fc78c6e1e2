/* SPDX-License-Identifier: MIT */
#include "yamlemit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct yemit {
        yaml_emitter_t emitter;
        char *buf;
        size_t len, cap;
        int error;
        bool finished;
};

static int write_handler(void *data, unsigned char *buffer, size_t size) {
        struct yemit *e = data;
        if (e->len + size + 1 > e->cap) {
                size_t nc = e->cap ? e->cap * 2 : 4096;
                while (nc < e->len + size + 1)
                        nc *= 2;
                char *nb = realloc(e->buf, nc);
                if (!nb)
                        return 0;
                e->buf = nb;
                e->cap = nc;
        }
        memcpy(e->buf + e->len, buffer, size);
        e->len += size;
        e->buf[e->len] = '\0';
        return 1;
}

static void emit(struct yemit *e, yaml_event_t *ev, int ok) {
        if (e->error) {
                if (ok)
                        yaml_event_delete(ev);
                return;
        }
        if (!ok) {
                e->error = -ENOMEM;
                return;
        }
        if (!yaml_emitter_emit(&e->emitter, ev))
                e->error = -EINVAL; /* the emitter frees the event either way */
}

int yemit_new(struct yemit **ret) {
        struct yemit *e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        if (!yaml_emitter_initialize(&e->emitter)) {
                free(e);
                return -ENOMEM;
        }
        yaml_emitter_set_output(&e->emitter, write_handler, e);
        yaml_emitter_set_unicode(&e->emitter, 1);
        yaml_emitter_set_width(&e->emitter, -1);
        yaml_emitter_set_indent(&e->emitter, 2);
        yaml_event_t ev;
        emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
        *ret = e;
        return 0;
}

void yemit_free(struct yemit *e) {
        if (!e)
                return;
        yaml_emitter_delete(&e->emitter);
        if (e->buf)
                explicit_bzero(e->buf, e->cap);
        free(e->buf);
        free(e);
}

void yemit_document_start(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0));
}
void yemit_document_start_implicit(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
}
void yemit_document_end(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_document_end_event_initialize(&ev, 1));
}
void yemit_map_start(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}
void yemit_map_end(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}
void yemit_seq_start(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
}
void yemit_seq_end(struct yemit *e) {
        yaml_event_t ev;
        emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* Would a plain scalar with this text be read back as something other than a
 * string (YAML 1.1 as libyaml-based readers and Go's yaml.v2 resolve it)? */
static bool needs_quotes(const char *s) {
        static const char *const special[] = {
                "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
                "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
                /* floats without a digit, and the merge key */
                ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN",
                ".NAN", "<<"};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
                if (strcmp(s, special[i]) == 0)
                        return true;
        /* Anything starting like a number (1.20, 0x1f, .5, -3, 1e3). */
        const char *p = s;
        if (*p == '-' || *p == '+')
                p++;
        if (*p == '.')
                p++;
        return *p >= '0' && *p <= '9';
}

static void scalar(struct yemit *e, const char *s, yaml_scalar_style_t style, bool plain_implicit) {
        yaml_event_t ev;
        emit(e, &ev,
             yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *) YAML_STR_TAG, (yaml_char_t *) s,
                                          (int) strlen(s), plain_implicit, 1, style));
}

void yemit_str(struct yemit *e, const char *s) {
        bool q = needs_quotes(s);
        scalar(e, s, q ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE, !q);
}
void yemit_raw(struct yemit *e, const char *s) {
        scalar(e, s, YAML_PLAIN_SCALAR_STYLE, true);
}
void yemit_block(struct yemit *e, const char *s) {
        scalar(e, s, YAML_LITERAL_SCALAR_STYLE, false);
}
void yemit_kv(struct yemit *e, const char *key, const char *value) {
        yemit_str(e, key);
        yemit_str(e, value);
}
void yemit_kv_raw(struct yemit *e, const char *key, const char *value) {
        yemit_str(e, key);
        yemit_raw(e, value);
}

int yemit_finish(struct yemit *e, char **ret, size_t *ret_size) {
        yaml_event_t ev;
        if (!e->finished) {
                emit(e, &ev, yaml_stream_end_event_initialize(&ev));
                if (!e->error && !yaml_emitter_flush(&e->emitter))
                        e->error = -EIO;
                e->finished = true;
        }
        if (e->error)
                return e->error;
        char *out = e->buf ? e->buf : strdup("");
        if (!out)
                return -ENOMEM;
        *ret = out;
        if (ret_size)
                *ret_size = e->len;
        e->buf = NULL;
        e->len = e->cap = 0;
        return 0;
}
