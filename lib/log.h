/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdarg.h>

#include "macro.h"

/* Levels follow syslog. lib/ logs at LOG_DEBUG at most: it returns the reason
 * and the first caller that knows what the user was doing logs it once. */
enum { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_set_max_level(int level);
int log_get_max_level(void);
/* A prefix printed before every line ("kubeseed", "kubeseed-firstboot"). */
void log_set_ident(const char *ident);
/* Extra sink (the console, /dev/kmsg, a log file); NULL to remove. Lines are
 * written to stderr and, when set, to this fd as well. */
void log_set_extra_fd(int fd);

/* Logs and returns -abs(error) (or 0 when error is 0), so callers can write
 * `return log_error_errno(r, "...: %m")`. "%m" expands to strerror(abs(error)). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_error(...) (void) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) (void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory")
