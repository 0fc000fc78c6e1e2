/* SPDX-License-Identifier: MIT */
#include "strv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t strv_length(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static int push_owned(char ***v, char *s) {
        size_t n = strv_length(*v);
        char **nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(s);
                return -ENOMEM;
        }
        nv[n] = s;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

int strv_push(char ***v, const char *s) {
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        return push_owned(v, c);
}

int strv_pushf(char ***v, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = vstrdupf(fmt, ap);
        va_end(ap);
        if (!s)
                return -ENOMEM;
        return push_owned(v, s);
}

int strv_extend(char ***v, char *const *other) {
        for (char *const *i = other; i && *i; i++) {
                int r = strv_push(v, *i);
                if (r < 0)
                        return r;
        }
        return 0;
}

int strv_contains(char *const *v, const char *s) {
        for (char *const *i = v; i && *i; i++)
                if (strcmp(*i, s) == 0)
                        return 1;
        return 0;
}

char *strv_join(char *const *v, const char *sep) {
        size_t seplen = strlen(sep), n = 1;
        for (char *const *i = v; i && *i; i++)
                n += strlen(*i) + seplen;
        char *s = malloc(n), *p = s;
        if (!s)
                return NULL;
        for (char *const *i = v; i && *i; i++) {
                if (i != v) {
                        memcpy(p, sep, seplen);
                        p += seplen;
                }
                size_t l = strlen(*i);
                memcpy(p, *i, l);
                p += l;
        }
        *p = '\0';
        return s;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

char *vstrdupf(const char *fmt, va_list ap) {
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        return s;
}

char *strdupf(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = vstrdupf(fmt, ap);
        va_end(ap);
        return s;
}

int set_error(char **ret_error, int r, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                va_start(ap, fmt);
                *ret_error = vstrdupf(fmt, ap);
                va_end(ap);
                if (!*ret_error)
                        r = -ENOMEM;
        }
        return r;
}

int replace_error(char **ret_error, int r, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                va_start(ap, fmt);
                char *msg = vstrdupf(fmt, ap);
                va_end(ap);
                free(*ret_error);
                *ret_error = msg;
        }
        return r;
}

bool text_has_line(const char *text, const char *line) {
        size_t n = strlen(line);
        for (const char *p = text; p && n && (p = strstr(p, line)); p += n)
                if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}
