/* The infra process of a pod: PID 1 of the pod's PID namespace when it has
 * one, holding the pod's namespaces open for its life. It reaps every child
 * it inherits and exits 0 on SIGINT or SIGTERM. Built static: the image holds
 * this binary and nothing else. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    struct sigaction on_quit = {.sa_handler = quit};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pouch pause 1.0");
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: warning: not PID 1, children of the pod are not reaped here\n", stderr);
    }
    if (sigaction(SIGINT, &on_quit, NULL) < 0 || sigaction(SIGTERM, &on_quit, NULL) < 0 ||
        sigaction(SIGCHLD, &on_child, NULL) < 0) {
        perror("pause: sigaction");
        return 1;
    }
    for (;;) {
        pause();
    }
}
