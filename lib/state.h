/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first-boot agent's state file: which steps ran, how they ended, when.
 *
 * Path: STATE_PATH below a root prefix, written atomically (temp file, fsync,
 * rename, fsync of the directory), mode 0644. The file is world-readable, so
 * a step's reason and detail must NEVER contain tokens, keys, certificates or
 * any other secret: name the field or file instead ("ca-key in user-data is
 * not a PEM private key"), never its value. A missing file is a fresh start.
 *
 * Format (version 1), one record per line, '\n'-terminated:
 *
 *   # comment lines and empty lines are ignored
 *   kubeseed-state 1
 *   step name=seed status=done start=1714557600 end=1714557601 detail=/dev/vdb\s(vfat)
 *   step name=report status=failed start=1714557601 end=1714557602 reason=...
 *   step name=addon-flannel status=done start=1714557700 end=1714557760 digest=sha256:<64 hex>
 *
 * - The header "kubeseed-state 1" is the first record; nothing else may precede it.
 * - A step record is "step" followed by KEY=VALUE fields, each preceded by
 *   exactly one space: name, status, start, end (required) and reason,
 *   detail, digest (optional, omitted when empty). Unknown or repeated keys are errors.
 * - digest: "sha256:<64 lowercase hex>", what the step applied (an add-on's
 *   manifests): a different one in the image means the step must run again.
 * - name: 1-64 characters of [a-z0-9_-], unique in the file.
 * - status: pending | running | done | failed.
 * - start, end: unix time in seconds (decimal, no sign); 0 = not yet.
 *   pending has both 0; end, when set, is >= start.
 * - reason (failed steps only), detail: escaped text of at most
 *   STATE_MAX_TEXT bytes once unescaped. Escapes: "\\" backslash, "\s" space,
 *   "\n" newline, "\t" tab, "\r" carriage return, "\xHH" any other byte below
 *   0x20 and 0x7f. Bytes >= 0x80 (UTF-8) are written as they are. A NUL
 *   byte is never allowed.
 * - Limits: STATE_MAX_SIZE bytes, STATE_MAX_LINE bytes per line,
 *   STATE_MAX_STEPS steps. */

#define STATE_PATH "/var/lib/kubeseed/state"
#define STATE_MAX_SIZE (64U * 1024U)
#define STATE_MAX_LINE 8192U
#define STATE_MAX_STEPS 64U
#define STATE_MAX_NAME 64U
#define STATE_MAX_TEXT 1024U

enum step_status { STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, _STEP_STATUS_MAX };

struct state_step {
        char *name;
        enum step_status status;
        uint64_t start, end; /* unix seconds; 0 = not yet */
        char *reason;        /* failed: why (no secrets); NULL otherwise */
        char *detail;        /* optional one-line result ("/dev/vdb (vfat, label CIDATA)") */
        char *digest;        /* optional "sha256:<hex>" of what the step applied */
};

struct state {
        struct state_step *steps; /* in order of first appearance */
        size_t n_steps;
};

const char *step_status_to_string(enum step_status s);
/* Returns the status or -EINVAL. */
int step_status_from_string(const char *s);

struct state *state_new(void);
void state_free(struct state *s);
static inline void state_freep(struct state **s) {
        state_free(*s);
}
#define _cleanup_state_ __attribute__((cleanup(state_freep)))

/* Pure functions over memory. */

/* Parse the text above. On error returns -EBADMSG (or -EFBIG, -ENOMEM) and,
 * when ret_error is not NULL, an allocated "line N: what was wrong". */
int state_parse(const char *data, size_t size, struct state **ret, char **ret_error);
/* Serialise; *ret is NUL-terminated, *ret_size (may be NULL) excludes the NUL.
 * -EINVAL when a step would not parse back (bad name, text too long). */
int state_serialize(const struct state *s, char **ret, size_t *ret_size);
/* {"format":1,"steps":[{"name":..,"status":..,"start":N|null,"end":N|null,
 *   "reason":".."|null,"detail":".."|null}]}, valid UTF-8 (invalid bytes become
 * U+FFFD), newline-terminated. */
int state_to_json(const struct state *s, char **ret);
/* Human-readable, one line per step:
 * "seed      done     2024-05-01T10:00:00Z .. 2024-05-01T10:00:01Z  /dev/vdb (vfat)" */
int state_to_text(const struct state *s, char **ret);

/* Escape / unescape one value as described above (also used for the agent's
 * facts file). Unescape returns -EINVAL on a malformed escape or NUL. */
int state_escape(const char *s, char **ret);
int state_unescape(const char *s, size_t len, char **ret);

struct state_step *state_find(const struct state *s, const char *name);
/* Record (or clear, with NULL) what a step applied; cleared by
 * state_step_running(). -ENOENT, -EINVAL for a malformed digest. */
int state_step_set_digest(struct state *s, const char *name, const char *digest);
/* Back to pending, forgetting times, reason, detail and digest (what it
 * applied changed: run it again). -ENOENT. */
int state_step_pending(struct state *s, const char *name);
/* Add `name` as pending unless present. 1 added, 0 present, <0 error. */
int state_ensure_step(struct state *s, const char *name);
/* Transitions; each adds the step when absent. running: start=now, end=0,
 * reason and detail cleared. done: end=now, detail (may be NULL) kept.
 * failed: end=now, reason required. Return 0 or a negative errno. */
int state_step_running(struct state *s, const char *name, uint64_t now);
int state_step_done(struct state *s, const char *name, uint64_t now, const char *detail);
int state_step_failed(struct state *s, const char *name, uint64_t now, const char *reason);
/* Are all steps done (and is there at least one)? */
bool state_all_done(const struct state *s);

/* Thin I/O: STATE_PATH below `root` (NULL or "/" for the real root). load
 * returns 1 with the parsed state, or 0 with an empty state when the file does
 * not exist (a fresh start); parse errors as state_parse(), prefixed with the
 * path. save creates the directory (0755) and writes atomically, mode 0644. */
int state_load(const char *root, struct state **ret, char **ret_error);
int state_save(const char *root, const struct state *s);
