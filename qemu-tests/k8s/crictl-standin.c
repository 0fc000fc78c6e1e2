/* SPDX-License-Identifier: MIT */
/* STAND-IN — not crictl. The `crictl` of the real Kubernetes v1.20.2 bundle
 * built from Debian's packages (qemu-tests/k8s/README.md): cri-tools is not
 * in Debian, and kubeadm v1.20 refuses to run without a crictl in PATH. It
 * answers the commands kubeadm init and join use by asking containerd
 * through containerd's own `ctr` (Debian's containerd package), so that
 * kubeadm's checks still check something:
 *
 *   crictl --version           "crictl version <version> (kubeseed stand-in)"
 *   crictl [opts] info         ctr version: exit 0 when containerd answers
 *   crictl [opts] version      ctr version, its output and status
 *   crictl [opts] inspecti IMG exit 0 when containerd's k8s.io namespace holds
 *                              IMG (ctr images ls -q name==IMG), else 1
 *   anything else (pull, pods, stopp, rmp, ...)
 *                              refused with exit 1, naming the command: an
 *                              offline node pulls nothing, and kubeadm reset
 *                              only warns when it cannot list pods
 *
 * -r/--runtime-endpoint ENDPOINT (unix:///path or /path) picks containerd's
 * socket (default /run/containerd/containerd.sock); the other global options
 * (-i, -c, -t with their values, flags) are skipped. <version> is
 * CRICTL_STANDIN_VERSION, set at build time (k8s.mk). Built -static. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../doubles/crictl-opts.h"

#ifndef CRICTL_STANDIN_VERSION
#error "build with -DCRICTL_STANDIN_VERSION='\"v0.0.0\"'"
#endif

#define CTR "ctr"
#define NAMESPACE "k8s.io"
#define OUTPUT_MAX 4096

/* Runs argv with stdin from /dev/null; its stdout into out (NUL-terminated,
 * at most OUTPUT_MAX - 1 bytes kept) when out is not NULL, else through.
 * Returns its exit status, 127 when it could not run. */
static int run(char *const argv[], char *out) {
        int fds[2] = {-1, -1};
        if (out && pipe(fds) < 0)
                return 127;
        pid_t pid = fork();
        if (pid < 0)
                return 127;
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY);
                if (null >= 0)
                        dup2(null, STDIN_FILENO);
                if (out) {
                        dup2(fds[1], STDOUT_FILENO);
                        close(fds[0]);
                        close(fds[1]);
                }
                execvp(argv[0], argv);
                fprintf(stderr, "crictl (kubeseed stand-in): cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        size_t n = 0;
        if (out) {
                close(fds[1]);
                for (;;) {
                        char buf[512];
                        ssize_t k = read(fds[0], buf, sizeof buf);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                break;
                        for (ssize_t i = 0; i < k && n < OUTPUT_MAX - 1; i++)
                                out[n++] = buf[i];
                }
                close(fds[0]);
                out[n] = '\0';
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 127;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv) {
        const char *cmd = NULL, *endpoint = "/run/containerd/containerd.sock";
        int i;
        for (i = 1; i < argc && !cmd; i++) {
                if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
                        printf("crictl version %s (kubeseed stand-in)\n", CRICTL_STANDIN_VERSION);
                        return 0;
                }
                if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--runtime-endpoint") == 0) {
                        if (i + 1 < argc)
                                endpoint = argv[++i];
                        continue;
                }
                if (strncmp(argv[i], "--runtime-endpoint=", 19) == 0) {
                        endpoint = argv[i] + 19;
                        continue;
                }
                if (argv[i][0] == '-') {
                        if (takes_value(argv[i]))
                                i++;
                        continue;
                }
                cmd = argv[i];
        }
        if (!cmd) {
                fputs("crictl (kubeseed stand-in): no command\n", stderr);
                return 1;
        }
        if (strncmp(endpoint, "unix://", 7) == 0)
                endpoint += 7;
        char *address = (char *) endpoint;

        if (strcmp(cmd, "info") == 0 || strcmp(cmd, "version") == 0) {
                char *const ctr[] = {CTR, "--address", address, "version", NULL};
                char out[OUTPUT_MAX];
                int status = run(ctr, strcmp(cmd, "info") == 0 ? out : NULL);
                if (status != 0)
                        fprintf(stderr, "crictl (kubeseed stand-in): containerd at %s does not answer\n",
                                address);
                else if (strcmp(cmd, "info") == 0)
                        puts("{}");
                return status;
        }
        if (strcmp(cmd, "inspecti") == 0) {
                if (i >= argc || argv[i][0] == '-') {
                        fputs("crictl (kubeseed stand-in): inspecti needs one image name\n", stderr);
                        return 1;
                }
                char filter[1024];
                int len = snprintf(filter, sizeof filter, "name==%s", argv[i]);
                if (len < 0 || (size_t) len >= sizeof filter) {
                        fputs("crictl (kubeseed stand-in): image name too long\n", stderr);
                        return 1;
                }
                char *const ctr[] = {CTR,      "--address", address, "--namespace", NAMESPACE,
                                     "images", "ls",        "-q",    filter,        NULL};
                char out[OUTPUT_MAX];
                int status = run(ctr, out);
                if (status != 0)
                        return status;
                if (out[strspn(out, " \t\r\n")] == '\0') {
                        fprintf(stderr,
                                "crictl (kubeseed stand-in): %s is not in containerd's %s namespace\n",
                                argv[i], NAMESPACE);
                        return 1;
                }
                printf("{\"status\": {\"repoTags\": [\"%s\"]}}\n", argv[i]);
                return 0;
        }
        fprintf(stderr, "crictl (kubeseed stand-in): '%s' is not implemented by the stand-in\n", cmd);
        return 1;
}
