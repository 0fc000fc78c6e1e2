/* SPDX-License-Identifier: MIT */
/* TEST DOUBLE — not a kubelet. Installed as /usr/bin/kubelet by the test
 * Kubernetes bundle (`make test-bundle`, qemu-tests/doubles/README.md),
 * because the real Kubernetes binaries cannot be downloaded on our machines.
 *
 *   kubelet --version   prints "Kubernetes <version>" on stdout, exactly as
 *                       the real kubelet does (kubeadm's preflight parses that
 *                       line), and says it is a test double on stderr.
 *   kubelet ...         anything else: the kubelet.service the image starts
 *                       just runs. The call is appended to
 *                       /var/log/kubeseed-test/kubelet.log, then it waits and
 *                       exits 0 on SIGTERM or SIGINT (systemctl stop).
 *
 * <version> is KUBELET_DOUBLE_VERSION, set at build time (doubles.mk).
 * KUBESEED_TEST_ROOT prefixes the log path, for running it on the host.
 * Built -static: it depends on nothing in the image. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KUBELET_DOUBLE_VERSION
#error "build with -DKUBELET_DOUBLE_VERSION='\"v1.31.1\"'"
#endif

#define LOGDIR "/var/log/kubeseed-test"
#define LOGFILE LOGDIR "/kubelet.log"

static void on_stop(int sig) {
        (void) sig;
        _exit(0);
}

static void record(int argc, char **argv) {
        const char *root = getenv("KUBESEED_TEST_ROOT");
        char dir[4096], path[4096];
        if (!root)
                root = "";
        if ((size_t) snprintf(dir, sizeof dir, "%s%s", root, LOGDIR) >= sizeof dir ||
            (size_t) snprintf(path, sizeof path, "%s%s", root, LOGFILE) >= sizeof path)
                return;
        for (char *slash = dir + strlen(root) + 1; (slash = strchr(slash, '/')); slash++) {
                *slash = '\0';
                (void) mkdir(dir, 0755);
                *slash = '/';
        }
        (void) mkdir(dir, 0755);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "kubelet (kubeseed test double): cannot record the call in %s: %s\n", path,
                        strerror(errno));
                return;
        }
        dprintf(fd, "kubelet");
        for (int i = 1; i < argc; i++)
                dprintf(fd, " %s", argv[i]);
        dprintf(fd, "\n");
        (void) fsync(fd);
        close(fd);
}

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "--version=true") == 0) {
                        printf("Kubernetes %s\n", KUBELET_DOUBLE_VERSION);
                        fprintf(stderr, "kubelet: kubeseed test double, not a kubelet\n");
                        return 0;
                }

        struct sigaction stop = {.sa_handler = on_stop};
        sigfillset(&stop.sa_mask);
        if (sigaction(SIGTERM, &stop, NULL) < 0 || sigaction(SIGINT, &stop, NULL) < 0) {
                perror("kubelet (kubeseed test double): sigaction");
                return 1;
        }
        record(argc, argv);
        fprintf(stderr,
                "kubelet (kubeseed test double) %s: not a kubelet; started with %d argument(s), "
                "waiting for SIGTERM\n",
                KUBELET_DOUBLE_VERSION, argc - 1);
        for (;;)
                pause();
}
