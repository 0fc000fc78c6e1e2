/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Growable NULL-terminated string arrays (argv, package lists). */
size_t strv_length(char *const *v);
/* Append a copy of s. Returns 0 or -ENOMEM (v unchanged on failure). */
int strv_push(char ***v, const char *s);
int strv_pushf(char ***v, const char *fmt, ...) _printf_(2, 3);
/* Append copies of every string of other. */
int strv_extend(char ***v, char *const *other);
int strv_contains(char *const *v, const char *s);
/* The strings joined by sep ("" for an empty list). Caller frees. */
char *strv_join(char *const *v, const char *sep);
/* vasprintf() into a new string; NULL when out of memory. */
char *strdupf(const char *fmt, ...) _printf_(1, 2);
char *vstrdupf(const char *fmt, va_list ap) _printf_(1, 0);

/* For functions that explain a failure through an optional `char **ret_error`:
 * both do nothing but return r when ret_error is NULL.
 * set_error() stores the message in *ret_error without looking at what it held;
 * out of memory, *ret_error is NULL and it returns -ENOMEM instead of r. */
int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
/* replace_error() frees the message *ret_error held and stores the new one
 * (NULL when out of memory); it always returns r. */
int replace_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

/* The value of a hex digit (either case), or -EINVAL. */
int unhexchar(char c);

/* Is `line` one whole line of `text` (a program's output)? NULL text: no. */
bool text_has_line(const char *text, const char *line);
