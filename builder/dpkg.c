/* SPDX-License-Identifier: MIT */
#include "dpkg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

void dpkg_packages_free(struct dpkg_package *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].name);
                free(p[i].version);
                free(p[i].arch);
        }
        free(p);
}

static int cmp_pkg(const void *a, const void *b) {
        const struct dpkg_package *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : strcmp(x->arch, y->arch);
}

/* Value of "Field: value" when line starts with field. */
static const char *field(const char *line, size_t len, const char *name, size_t *ret_len) {
        size_t n = strlen(name);
        if (len <= n || strncmp(line, name, n) != 0 || line[n] != ':')
                return NULL;
        const char *v = line + n + 1;
        while (v < line + len && *v == ' ')
                v++;
        *ret_len = (size_t) (line + len - v);
        return v;
}

struct stanza {
        const char *name, *version, *arch, *status;
        size_t name_l, version_l, arch_l, status_l;
};

static bool stanza_installed(const struct stanza *st) {
        /* "install ok installed" or "hold ok installed" (apt-mark hold). */
        static const char installed[] = " ok installed";
        size_t n = strlen(installed);
        return st->name && st->version && st->status && st->status_l > n &&
               strncmp(st->status + st->status_l - n, installed, n) == 0;
}

static int append(struct dpkg_package **list, size_t *n, size_t *cap, const struct stanza *st) {
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 256;
                struct dpkg_package *nl = realloc(*list, nc * sizeof **list);
                if (!nl)
                        return -ENOMEM;
                *list = nl;
                *cap = nc;
        }
        struct dpkg_package *e = &(*list)[(*n)++];
        e->name = strndup(st->name, st->name_l);
        e->version = strndup(st->version, st->version_l);
        e->arch = st->arch ? strndup(st->arch, st->arch_l) : strdup("");
        return e->name && e->version && e->arch ? 0 : -ENOMEM;
}

int dpkg_status_parse(const char *data, size_t size, struct dpkg_package **ret, size_t *ret_n) {
        struct dpkg_package *list = NULL;
        size_t n = 0, cap = 0;
        struct stanza st = {0};
        const char *p = data, *end = data + size;
        int r = 0;

        for (;;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *le = nl ? nl : end;
                size_t len = (size_t) (le - p);
                if (len == 0) {
                        /* End of a stanza. */
                        if (stanza_installed(&st))
                                r = append(&list, &n, &cap, &st);
                        else if (st.name && !st.status)
                                r = -EINVAL;
                        if (r < 0)
                                break;
                        st = (struct stanza){0};
                } else if (p[0] != ' ' && p[0] != '\t') {
                        const char *v;
                        size_t vl;
                        if (!memchr(p, ':', len)) {
                                r = -EINVAL;
                                break;
                        }
                        if ((v = field(p, len, "Package", &vl)))
                                st.name = v, st.name_l = vl;
                        else if ((v = field(p, len, "Version", &vl)))
                                st.version = v, st.version_l = vl;
                        else if ((v = field(p, len, "Architecture", &vl)))
                                st.arch = v, st.arch_l = vl;
                        else if ((v = field(p, len, "Status", &vl)))
                                st.status = v, st.status_l = vl;
                }
                if (!nl) {
                        /* A last stanza without a trailing blank line. */
                        if (len > 0 && stanza_installed(&st))
                                r = append(&list, &n, &cap, &st);
                        break;
                }
                p = nl + 1;
        }
        if (r < 0) {
                dpkg_packages_free(list, n);
                return r;
        }
        if (n)
                qsort(list, n, sizeof *list, cmp_pkg);
        *ret = list;
        *ret_n = n;
        return 0;
}
