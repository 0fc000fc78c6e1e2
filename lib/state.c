/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "macro.h"
#include "strv.h"

static const char *const status_names[_STEP_STATUS_MAX] = {
        [STEP_PENDING] = "pending",
        [STEP_RUNNING] = "running",
        [STEP_DONE] = "done",
        [STEP_FAILED] = "failed",
};

const char *step_status_to_string(enum step_status s) {
        if ((unsigned) s >= _STEP_STATUS_MAX)
                return "invalid";
        return status_names[s];
}

int step_status_from_string(const char *s) {
        for (int i = 0; i < _STEP_STATUS_MAX; i++)
                if (streq(status_names[i], s))
                        return i;
        return -EINVAL;
}

struct state *state_new(void) {
        return calloc(1, sizeof(struct state));
}

static void step_done(struct state_step *st) {
        free(st->name);
        free(st->reason);
        free(st->detail);
        free(st->digest);
}

void state_free(struct state *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_steps; i++)
                step_done(&s->steps[i]);
        free(s->steps);
        free(s);
}

/* "sha256:" and 64 lowercase hex digits. */
static bool digest_text_valid(const char *d) {
        if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
                return false;
        for (const char *p = d + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static bool name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > STATE_MAX_NAME)
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- escaping ---------------------------------------------------------- */

int state_escape(const char *s, char **ret) {
        size_t n = strlen(s);
        if (n > SIZE_MAX / 4 - 1)
                return -ENOMEM;
        char *out = malloc(n * 4 + 1), *o = out;
        if (!out)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '\\':
                        *o++ = '\\';
                        *o++ = '\\';
                        break;
                case ' ':
                        *o++ = '\\';
                        *o++ = 's';
                        break;
                case '\n':
                        *o++ = '\\';
                        *o++ = 'n';
                        break;
                case '\t':
                        *o++ = '\\';
                        *o++ = 't';
                        break;
                case '\r':
                        *o++ = '\\';
                        *o++ = 'r';
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f) {
                                static const char hex[] = "0123456789abcdef";
                                *o++ = '\\';
                                *o++ = 'x';
                                *o++ = hex[*p >> 4];
                                *o++ = hex[*p & 0xf];
                        } else
                                *o++ = (char) *p;
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int state_unescape(const char *s, size_t len, char **ret) {
        _cleanup_free_ char *out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        char *o = out;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '\0' || c < 0x20 || c == 0x7f || c == ' ')
                        return -EINVAL; /* raw control characters and spaces are escaped */
                if (c != '\\') {
                        *o++ = (char) c;
                        continue;
                }
                if (++i >= len)
                        return -EINVAL;
                switch (s[i]) {
                case '\\':
                        *o++ = '\\';
                        break;
                case 's':
                        *o++ = ' ';
                        break;
                case 'n':
                        *o++ = '\n';
                        break;
                case 't':
                        *o++ = '\t';
                        break;
                case 'r':
                        *o++ = '\r';
                        break;
                case 'x': {
                        if (i + 2 >= len)
                                return -EINVAL;
                        int hi = unhexchar(s[i + 1]), lo = unhexchar(s[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EINVAL;
                        *o++ = (char) (hi << 4 | lo);
                        i += 2;
                        break;
                }
                default:
                        return -EINVAL;
                }
        }
        *o = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- steps ------------------------------------------------------------- */

struct state_step *state_find(const struct state *s, const char *name) {
        for (size_t i = 0; i < s->n_steps; i++)
                if (streq(s->steps[i].name, name))
                        return &s->steps[i];
        return NULL;
}

static int add_step(struct state *s, const char *name, struct state_step **ret) {
        if (!name_valid(name))
                return -EINVAL;
        if (s->n_steps >= STATE_MAX_STEPS)
                return -E2BIG;
        char *n = strdup(name);
        if (!n)
                return -ENOMEM;
        struct state_step *grown = realloc(s->steps, (s->n_steps + 1) * sizeof *grown);
        if (!grown) {
                free(n);
                return -ENOMEM;
        }
        s->steps = grown;
        struct state_step *st = &s->steps[s->n_steps++];
        *st = (struct state_step){.name = n, .status = STEP_PENDING};
        *ret = st;
        return 0;
}

int state_ensure_step(struct state *s, const char *name) {
        if (state_find(s, name))
                return 0;
        struct state_step *st;
        int r = add_step(s, name, &st);
        return r < 0 ? r : 1;
}

static int get_step(struct state *s, const char *name, struct state_step **ret) {
        struct state_step *st = state_find(s, name);
        if (st) {
                *ret = st;
                return 0;
        }
        return add_step(s, name, ret);
}

static int dup_text(const char *text, char **ret) {
        if (!text || !*text) {
                *ret = NULL;
                return 0;
        }
        if (strlen(text) > STATE_MAX_TEXT)
                return -E2BIG;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

int state_step_running(struct state *s, const char *name, uint64_t now) {
        struct state_step *st;
        int r = get_step(s, name, &st);
        if (r < 0)
                return r;
        st->status = STEP_RUNNING;
        st->start = now;
        st->end = 0;
        free(st->reason);
        st->reason = NULL;
        free(st->detail);
        st->detail = NULL;
        free(st->digest);
        st->digest = NULL;
        return 0;
}

int state_step_pending(struct state *s, const char *name) {
        struct state_step *st = (struct state_step *) state_find(s, name);
        if (!st)
                return -ENOENT;
        st->status = STEP_PENDING;
        st->start = st->end = 0;
        free(st->reason);
        free(st->detail);
        free(st->digest);
        st->reason = st->detail = st->digest = NULL;
        return 0;
}

int state_step_set_digest(struct state *s, const char *name, const char *digest) {
        struct state_step *st = (struct state_step *) state_find(s, name);
        if (!st)
                return -ENOENT;
        if (digest && !digest_text_valid(digest))
                return -EINVAL;
        char *d = NULL;
        if (digest && !(d = strdup(digest)))
                return -ENOMEM;
        free(st->digest);
        st->digest = d;
        return 0;
}

int state_step_done(struct state *s, const char *name, uint64_t now, const char *detail) {
        _cleanup_free_ char *d = NULL;
        int r = dup_text(detail, &d);
        if (r < 0)
                return r;
        struct state_step *st;
        r = get_step(s, name, &st);
        if (r < 0)
                return r;
        st->status = STEP_DONE;
        if (st->start == 0 || st->start > now)
                st->start = now;
        st->end = now;
        free(st->reason);
        st->reason = NULL;
        free(st->detail);
        st->detail = TAKE_PTR(d);
        return 0;
}

int state_step_failed(struct state *s, const char *name, uint64_t now, const char *reason) {
        if (!reason || !*reason)
                return -EINVAL;
        _cleanup_free_ char *copy = NULL;
        /* An over-long reason is cut, not refused: the failure must be recorded. */
        copy = strndup(reason, STATE_MAX_TEXT);
        if (!copy)
                return -ENOMEM;
        struct state_step *st;
        int r = get_step(s, name, &st);
        if (r < 0)
                return r;
        st->status = STEP_FAILED;
        if (st->start == 0 || st->start > now)
                st->start = now;
        st->end = now;
        free(st->reason);
        st->reason = TAKE_PTR(copy);
        return 0;
}

bool state_all_done(const struct state *s) {
        if (s->n_steps == 0)
                return false;
        for (size_t i = 0; i < s->n_steps; i++)
                if (s->steps[i].status != STEP_DONE)
                        return false;
        return true;
}

/* ---- parsing ----------------------------------------------------------- */

_printf_(3, 4) static int parse_error(char **ret_error, size_t line, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                va_start(ap, fmt);
                _cleanup_free_ char *msg = vstrdupf(fmt, ap);
                va_end(ap);
                if (!msg)
                        return -ENOMEM;
                char *full = NULL;
                int k;
                if (line > 0)
                        k = asprintf(&full, "line %zu: %s", line, msg);
                else
                        k = asprintf(&full, "%s", msg);
                if (k < 0)
                        return -ENOMEM;
                free(*ret_error);
                *ret_error = full;
        }
        return -EBADMSG;
}

static int parse_u64(const char *s, size_t len, uint64_t *ret) {
        if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

enum { F_NAME, F_STATUS, F_START, F_END, F_REASON, F_DETAIL, F_DIGEST, _F_MAX };
static const char *const field_names[_F_MAX] = {"name",   "status", "start", "end",
                                                "reason", "detail", "digest"};

static int parse_step_line(struct state *s, const char *p, size_t len, size_t line, char **ret_error) {
        /* p points after "step"; every field is " key=value". */
        bool seen[_F_MAX] = {};
        _cleanup_free_ char *name = NULL, *reason = NULL, *detail = NULL, *digest = NULL;
        int status = -1;
        uint64_t start = 0, end = 0;
        int r;

        size_t i = 0;
        while (i < len) {
                if (p[i] != ' ')
                        return parse_error(ret_error, line, "expected a space before field");
                i++;
                const char *tok = p + i;
                size_t tlen = 0;
                while (i + tlen < len && p[i + tlen] != ' ')
                        tlen++;
                i += tlen;
                if (tlen == 0)
                        return parse_error(ret_error, line,
                                           "empty field (a double space, or a space at the "
                                           "end of the line)");
                const char *eq = memchr(tok, '=', tlen);
                if (!eq)
                        return parse_error(ret_error, line, "field '%.*s' is not key=value",
                                           (int) (tlen > 64 ? 64 : tlen), tok);
                size_t klen = (size_t) (eq - tok);
                const char *val = eq + 1;
                size_t vlen = tlen - klen - 1;
                int f = -1;
                for (int k = 0; k < _F_MAX; k++)
                        if (strlen(field_names[k]) == klen && memcmp(field_names[k], tok, klen) == 0)
                                f = k;
                if (f < 0)
                        return parse_error(ret_error, line, "unknown field '%.*s'",
                                           (int) (klen > 64 ? 64 : klen), tok);
                if (seen[f])
                        return parse_error(ret_error, line, "field '%s' given twice", field_names[f]);
                seen[f] = true;
                if (vlen == 0)
                        return parse_error(ret_error, line, "empty value for '%s'", field_names[f]);

                switch (f) {
                case F_NAME:
                        name = strndup(val, vlen);
                        if (!name)
                                return -ENOMEM;
                        if (!name_valid(name))
                                return parse_error(ret_error, line,
                                                   "invalid step name (expected 1-%u characters "
                                                   "of a-z, 0-9, '_', '-')",
                                                   STATE_MAX_NAME);
                        break;
                case F_STATUS: {
                        char buf[16];
                        if (vlen >= sizeof buf)
                                return parse_error(ret_error, line, "unknown status");
                        memcpy(buf, val, vlen);
                        buf[vlen] = '\0';
                        status = step_status_from_string(buf);
                        if (status < 0)
                                return parse_error(ret_error, line,
                                                   "unknown status '%s' (expected pending, "
                                                   "running, done or failed)",
                                                   buf);
                        break;
                }
                case F_START:
                case F_END:
                        r = parse_u64(val, vlen, f == F_START ? &start : &end);
                        if (r < 0)
                                return parse_error(ret_error, line, "'%s' is not a unix time in seconds",
                                                   field_names[f]);
                        break;
                case F_DIGEST:
                        digest = strndup(val, vlen);
                        if (!digest)
                                return -ENOMEM;
                        if (!digest_text_valid(digest))
                                return parse_error(ret_error, line,
                                                   "invalid digest (expected sha256:<64 hex digits>)");
                        break;
                case F_REASON:
                case F_DETAIL: {
                        char **dst = f == F_REASON ? &reason : &detail;
                        r = state_unescape(val, vlen, dst);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return parse_error(ret_error, line, "malformed escape in '%s'",
                                                   field_names[f]);
                        if (strlen(*dst) > STATE_MAX_TEXT)
                                return parse_error(ret_error, line, "'%s' longer than %u bytes",
                                                   field_names[f], STATE_MAX_TEXT);
                        break;
                }
                }
        }

        for (int k = F_NAME; k <= F_END; k++)
                if (!seen[k])
                        return parse_error(ret_error, line, "missing field '%s'", field_names[k]);
        if (state_find(s, name))
                return parse_error(ret_error, line, "step '%s' listed twice", name);
        if (status == STEP_PENDING && (start != 0 || end != 0))
                return parse_error(ret_error, line, "pending step '%s' has times", name);
        if (end != 0 && end < start)
                return parse_error(ret_error, line, "step '%s' ends before it starts", name);
        if (reason && status != STEP_FAILED)
                return parse_error(ret_error, line, "step '%s' has a reason but did not fail", name);
        if (status == STEP_FAILED && !reason)
                return parse_error(ret_error, line, "failed step '%s' has no reason", name);
        if (s->n_steps >= STATE_MAX_STEPS)
                return parse_error(ret_error, line, "more than %u steps", STATE_MAX_STEPS);

        struct state_step *st;
        r = add_step(s, name, &st);
        if (r < 0)
                return r;
        st->status = (enum step_status) status;
        st->start = start;
        st->end = end;
        st->reason = TAKE_PTR(reason);
        st->detail = TAKE_PTR(detail);
        st->digest = TAKE_PTR(digest);
        return 0;
}

int state_parse(const char *data, size_t size, struct state **ret, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        if (size > STATE_MAX_SIZE) {
                parse_error(ret_error, 0, "larger than %u bytes", STATE_MAX_SIZE);
                return -EFBIG;
        }
        _cleanup_state_ struct state *s = state_new();
        if (!s)
                return -ENOMEM;

        bool header = false;
        size_t line = 0, pos = 0;
        while (pos < size) {
                line++;
                const char *p = data + pos;
                const char *nl = memchr(p, '\n', size - pos);
                if (!nl)
                        return parse_error(ret_error, line,
                                           "no newline at the end of the file (truncated?)");
                size_t len = (size_t) (nl - p);
                pos += len + 1;
                if (len > STATE_MAX_LINE)
                        return parse_error(ret_error, line, "longer than %u bytes", STATE_MAX_LINE);
                if (memchr(p, '\0', len))
                        return parse_error(ret_error, line, "contains a NUL byte");
                if (len == 0 || p[0] == '#')
                        continue;
                for (size_t i = 0; i < len; i++)
                        if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                                return parse_error(ret_error, line, "contains a raw control character");

                if (!header) {
                        static const char hdr[] = "kubeseed-state ";
                        if (len < sizeof hdr - 1 || memcmp(p, hdr, sizeof hdr - 1) != 0)
                                return parse_error(ret_error, line,
                                                   "expected the header 'kubeseed-state 1'");
                        if (len != sizeof hdr || p[sizeof hdr - 1] != '1')
                                return parse_error(
                                        ret_error, line,
                                        "unsupported format version '%.*s' "
                                        "(expected 1)",
                                        (int) (len - (sizeof hdr - 1) > 16 ? 16 : len - (sizeof hdr - 1)),
                                        p + sizeof hdr - 1);
                        header = true;
                        continue;
                }
                if (len >= 4 && memcmp(p, "step", 4) == 0 && (len == 4 || p[4] == ' ')) {
                        int r = parse_step_line(s, p + 4, len - 4, line, ret_error);
                        if (r < 0)
                                return r;
                        continue;
                }
                return parse_error(ret_error, line, "unknown record (expected 'step ...')");
        }
        if (!header)
                return parse_error(ret_error, 0, "empty (no 'kubeseed-state 1' header)");
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- serialising ------------------------------------------------------- */

int state_serialize(const struct state *s, char **ret, size_t *ret_size) {
        for (size_t i = 0; i < s->n_steps; i++) {
                const struct state_step *st = &s->steps[i];
                if (!name_valid(st->name) || (unsigned) st->status >= _STEP_STATUS_MAX ||
                    (st->reason && strlen(st->reason) > STATE_MAX_TEXT) ||
                    (st->detail && strlen(st->detail) > STATE_MAX_TEXT) ||
                    (st->digest && !digest_text_valid(st->digest)))
                        return -EINVAL;
        }
        if (s->n_steps > STATE_MAX_STEPS)
                return -E2BIG;

        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("# kubeseed-firstboot state; see docs/firstboot.md\n"
              "kubeseed-state 1\n",
              f);
        for (size_t i = 0; i < s->n_steps; i++) {
                const struct state_step *st = &s->steps[i];
                fprintf(f, "step name=%s status=%s start=%" PRIu64 " end=%" PRIu64, st->name,
                        step_status_to_string(st->status), st->start, st->end);
                if (st->reason && *st->reason) {
                        _cleanup_free_ char *e = NULL;
                        if (state_escape(st->reason, &e) < 0)
                                return -ENOMEM;
                        fprintf(f, " reason=%s", e);
                }
                if (st->detail && *st->detail) {
                        _cleanup_free_ char *e = NULL;
                        if (state_escape(st->detail, &e) < 0)
                                return -ENOMEM;
                        fprintf(f, " detail=%s", e);
                }
                if (st->digest)
                        fprintf(f, " digest=%s", st->digest);
                fputc('\n', f);
        }
        return memstream_finish(&f, &buf, &size, ret, ret_size);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when invalid. */
static size_t utf8_valid_len(const unsigned char *p) {
        if (p[0] < 0x80)
                return 1;
        size_t n;
        uint32_t c;
        if ((p[0] & 0xe0) == 0xc0) {
                n = 2;
                c = p[0] & 0x1f;
        } else if ((p[0] & 0xf0) == 0xe0) {
                n = 3;
                c = p[0] & 0x0f;
        } else if ((p[0] & 0xf8) == 0xf0) {
                n = 4;
                c = p[0] & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0; /* also stops at the NUL terminator */
                c = c << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
            (c >= 0xd800 && c <= 0xdfff))
                return 0;
        return n;
}

static void jstr(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        p++;
                        continue;
                case '\\':
                        fputs("\\\\", f);
                        p++;
                        continue;
                case '\n':
                        fputs("\\n", f);
                        p++;
                        continue;
                case '\t':
                        fputs("\\t", f);
                        p++;
                        continue;
                case '\r':
                        fputs("\\r", f);
                        p++;
                        continue;
                default:
                        break;
                }
                if (*p < 0x20 || *p == 0x7f) {
                        fprintf(f, "\\u%04x", *p);
                        p++;
                        continue;
                }
                size_t n = utf8_valid_len(p);
                if (n == 0) {
                        fputs("\\ufffd", f);
                        p++;
                        continue;
                }
                fwrite(p, 1, n, f);
                p += n;
        }
        fputc('"', f);
}

static void jtime(FILE *f, uint64_t t) {
        if (t == 0)
                fputs("null", f);
        else
                fprintf(f, "%" PRIu64, t);
}

int state_to_json(const struct state *s, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("{\"format\":1,\"steps\":[", f);
        for (size_t i = 0; i < s->n_steps; i++) {
                const struct state_step *st = &s->steps[i];
                fputs(i ? ",{\"name\":" : "{\"name\":", f);
                jstr(f, st->name);
                fputs(",\"status\":", f);
                jstr(f, step_status_to_string(st->status));
                fputs(",\"start\":", f);
                jtime(f, st->start);
                fputs(",\"end\":", f);
                jtime(f, st->end);
                fputs(",\"reason\":", f);
                jstr(f, st->reason);
                fputs(",\"detail\":", f);
                jstr(f, st->detail);
                fputs(",\"digest\":", f);
                jstr(f, st->digest);
                fputc('}', f);
        }
        fputs("]}\n", f);
        return memstream_finish(&f, &buf, &size, ret, NULL);
}

static void format_time(uint64_t t, char out[static 32]) {
        struct tm tm;
        time_t tt = (time_t) t;
        if (t == 0 || (uint64_t) tt != t || !gmtime_r(&tt, &tm) ||
            strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, 32, "%s", t == 0 ? "-" : "?");
}

/* Text for a terminal: escape control characters so a reason cannot move the
 * cursor or fake further lines. */
static void text_string(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
}

int state_to_text(const struct state *s, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        if (s->n_steps == 0)
                fputs("no steps recorded (the agent has not run)\n", f);
        for (size_t i = 0; i < s->n_steps; i++) {
                const struct state_step *st = &s->steps[i];
                char a[32], b[32];
                format_time(st->start, a);
                format_time(st->end, b);
                if (st->start == 0 && st->end == 0)
                        fprintf(f, "%-12s %s", st->name, step_status_to_string(st->status));
                else
                        fprintf(f, "%-12s %-8s %-20s .. %-20s", st->name, step_status_to_string(st->status),
                                a, b);
                if (st->detail) {
                        fputs("  ", f);
                        text_string(f, st->detail);
                }
                if (st->reason) {
                        fputs("  reason: ", f);
                        text_string(f, st->reason);
                }
                fputc('\n', f);
        }
        return memstream_finish(&f, &buf, &size, ret, NULL);
}

/* ---- files ------------------------------------------------------------- */

int state_load(const char *root, struct state **ret, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        _cleanup_free_ char *path = path_join_root(root, STATE_PATH);
        if (!path)
                return -ENOMEM;
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(path, STATE_MAX_SIZE, &data, &size);
        if (r == -ENOENT) {
                struct state *s = state_new();
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        _cleanup_free_ char *err = NULL;
        r = state_parse(data, size, ret, &err);
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "%s: %s", path, err ? err : strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        return 1;
}

int state_save(const char *root, const struct state *s) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = state_serialize(s, &data, &size);
        if (r < 0)
                return r;
        return write_file_atomic_root(root, STATE_PATH, data, size, 0644);
}
