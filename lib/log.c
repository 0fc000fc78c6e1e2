/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int max_level = LOG_INFO;
static const char *ident = "kubeseed";
static int extra_fd = -1;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_ident(const char *s) {
        ident = s;
}

void log_set_extra_fd(int fd) {
        extra_fd = fd;
}

/* Expand %m to strerror(error) ourselves: the errno of the caller is not the
 * error being reported (functions return it). */
static void expand_m(char *out, size_t size, const char *fmt, int error) {
        size_t o = 0;
        for (const char *p = fmt; *p && o + 1 < size; p++) {
                if (p[0] == '%' && p[1] == '%') {
                        if (o + 2 < size) {
                                out[o++] = '%';
                                out[o++] = '%';
                        }
                        p++;
                } else if (p[0] == '%' && p[1] == 'm') {
                        const char *e = strerror(error);
                        for (; *e && o + 1 < size; e++)
                                out[o++] = *e == '%' ? '_' : *e;
                        p++;
                } else
                        out[o++] = *p;
        }
        out[o] = '\0';
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int abs_error = error < 0 ? -error : error;
        if (level > max_level)
                return -abs_error;

        char expanded[1024];
        expand_m(expanded, sizeof expanded, fmt, abs_error);

        char msg[4096];
        va_list ap;
        va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(msg, sizeof msg, expanded, ap);
#pragma GCC diagnostic pop
        va_end(ap);

        char buf[4400];
        int n;
        if (max_level >= LOG_DEBUG)
                n = snprintf(buf, sizeof buf, "%s: %s%s (%s:%d)\n", ident,
                             level <= LOG_ERR       ? "error: "
                             : level == LOG_WARNING ? "warning: "
                                                    : "",
                             msg, file, line);
        else
                n = snprintf(buf, sizeof buf, "%s: %s%s\n", ident,
                             level <= LOG_ERR       ? "error: "
                             : level == LOG_WARNING ? "warning: "
                                                    : "",
                             msg);
        if (n < 0)
                return -abs_error;
        if ((size_t) n >= sizeof buf)
                n = sizeof buf - 1;
        int saved = errno;
        (void) !write(STDERR_FILENO, buf, (size_t) n);
        if (extra_fd >= 0)
                (void) !write(extra_fd, buf, (size_t) n);
        errno = saved;
        return -abs_error;
}
