/*
 * spawn_ceiling: the machine's ceiling for running short jobs.
 *
 *   spawn_ceiling SLOTS COUNT [PROGRAM]
 *
 * Runs PROGRAM (default /bin/true) COUNT times with posix_spawn, keeping SLOTS
 * children in flight, and reaps them with waitpid(-1). No store, no output
 * capture, no process groups: this is as fast as a job runner can go here.
 * Exits 1 if any child fails, and prints the elapsed time and rate to stderr
 * when SPAWN_CEILING_VERBOSE is set.
 *
 * With SPAWN_CEILING_ARG=1 each child gets its number as an argument, as
 * `xargs -n 1 true`, GNU parallel and muster give it: `true 17`. That costs
 * the child real work: coreutils' true loads the locale whenever it has
 * exactly one argument (to answer --help), so this is the ceiling for the
 * command the tools actually run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long parse_positive(const char *s, const char *what) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0) {
        fprintf(stderr, "spawn_ceiling: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: spawn_ceiling SLOTS COUNT [PROGRAM]\n");
        return 2;
    }
    long slots = parse_positive(argv[1], "SLOTS");
    long count = parse_positive(argv[2], "COUNT");
    char *program = argc == 4 ? argv[3] : "/bin/true";
    char number[32];
    char *child_argv[] = {program, NULL, NULL};
    const int with_arg = getenv("SPAWN_CEILING_ARG") != NULL;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    long started = 0, reaped = 0, failed = 0;
    while (reaped < count) {
        while (started < count && started - reaped < slots) {
            pid_t pid;
            if (with_arg) {
                snprintf(number, sizeof number, "%ld", started + 1);
                child_argv[1] = number;
            }
            int rc = posix_spawn(&pid, program, NULL, NULL, child_argv, environ);
            if (rc != 0) {
                fprintf(stderr, "spawn_ceiling: posix_spawn %s: %s\n", program, strerror(rc));
                return 1;
            }
            started++;
        }
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            perror("spawn_ceiling: waitpid");
            return 1;
        }
        reaped++;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (getenv("SPAWN_CEILING_VERBOSE") != NULL)
        fprintf(stderr, "spawn_ceiling: %ld jobs, %ld slots, %.3f s, %.0f jobs/s\n",
                count, slots, secs, (double)count / secs);
    if (failed != 0) {
        fprintf(stderr, "spawn_ceiling: %ld of %ld children failed\n", failed, count);
        return 1;
    }
    return 0;
}
