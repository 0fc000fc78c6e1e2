/* SPDX-License-Identifier: MIT */
/* TEST IMAGE CONTENT — the only file of the test images kubeseed's QEMU
 * scenarios preload (qemu-tests/doubles/README.md). Every image kubeadm
 * needs (kube-apiserver, etcd, coredns, pause, ...) is, in the tests, one
 * layer holding this program as /pause: the registries that serve the real
 * images cannot be reached from our machines.
 *
 * It does what Kubernetes' own pause container does (build/pause/linux/
 * pause.c): as PID 1 of a pod sandbox it reaps orphaned children, exits 0 on
 * SIGINT or SIGTERM, and otherwise waits. Built `-static` so the image needs
 * no libc. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "kubeseed-test-pause 1"

static void on_stop(int sig) {
        (void) sig;
        _exit(0);
}

static void on_child(int sig) {
        (void) sig;
        int saved = errno;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        errno = saved;
}

int main(int argc, char **argv) {
        if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
                printf("%s (kubeseed test double)\n", PAUSE_VERSION);
                return 0;
        }
        if (getpid() != 1)
                fprintf(stderr, "pause (kubeseed test double): not running as PID 1, no zombies to reap.\n");

        /* Every signal but the three handled is blocked; SIGKILL and SIGSTOP
         * cannot be. */
        sigset_t blocked;
        sigfillset(&blocked);
        sigdelset(&blocked, SIGINT);
        sigdelset(&blocked, SIGTERM);
        sigdelset(&blocked, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &blocked, NULL) < 0) {
                perror("pause: sigprocmask");
                return 1;
        }
        struct sigaction stop = {.sa_handler = on_stop};
        struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
        sigfillset(&stop.sa_mask);
        sigfillset(&child.sa_mask);
        if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
            sigaction(SIGCHLD, &child, NULL) < 0) {
                perror("pause: sigaction");
                return 2;
        }
        for (;;)
                pause();
}
