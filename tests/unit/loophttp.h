/* SPDX-License-Identifier: MIT */
/* The two halves of a minimal HTTP/1.1 server on loopback, shared by the
 * unit tests' servers (testutil.h, test-download.c) and the test doubles'
 * file server (qemu-tests/doubles/mktestbundle.c serve). Test code only. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Reads a request's head (up to the blank line) into req, NUL-terminated,
 * and its method and path. False when the peer sent no complete, parsable
 * request line. */
static inline bool lh_read_request(int fd, char *req, size_t size, char method[8], char path[256]) {
        size_t len = 0;
        req[0] = '\0';
        while (len < size - 1) {
                ssize_t k = recv(fd, req + len, size - 1 - len, 0);
                if (k <= 0)
                        break;
                len += (size_t) k;
                req[len] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        method[0] = path[0] = '\0';
        return sscanf(req, "%7s %255s", method, path) == 2;
}

/* 200 with `body` (size bytes), or 404 when body is NULL; then closes the
 * write side. */
static inline void lh_reply(int fd, const void *body, size_t size) {
        char hdr[256];
        int hl = body ? snprintf(hdr, sizeof hdr,
                                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", size)
                      : snprintf(hdr, sizeof hdr,
                                 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if (send(fd, hdr, (size_t) hl, MSG_NOSIGNAL) == hl && body)
                (void) !send(fd, body, size, MSG_NOSIGNAL);
        shutdown(fd, SHUT_RDWR);
}
