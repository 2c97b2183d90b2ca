#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "CSpindle.h"

// Everything after fork() in the helper and the command runs in a copy of a multithreaded
// process, so it calls only async-signal-safe functions: no allocation, no locks, no stdio.

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

// Reads the helper's own children from /proc (open and read are async-signal-safe).
static void note_orphans(struct spindle_timed_report *report) {
    int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char text[1024];
    ssize_t got = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (got <= 0) return;
    int32_t pid = 0;
    int digits = 0;
    for (ssize_t i = 0; i <= got; i++) {
        char c = i < got ? text[i] : ' ';
        if (c >= '0' && c <= '9') {
            pid = pid * 10 + (c - '0');
            digits++;
        } else if (digits > 0) {
            if (report->orphan_count < 15) report->orphans[report->orphan_count] = pid;
            report->orphan_count++;
            pid = 0;
            digits = 0;
        }
    }
}

static void send_report(int fd, int32_t kind, int32_t status) {
    struct spindle_timed_report report;
    memset(&report, 0, sizeof(report));
    report.kind = kind;
    report.status = status;
    report.end_ns = monotonic_ns();
    struct rusage usage;
    getrusage(RUSAGE_CHILDREN, &usage);
    report.user_us = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec;
    report.system_us = (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec;
    report.max_rss_kb = usage.ru_maxrss;
    report.minor_faults = usage.ru_minflt;
    report.major_faults = usage.ru_majflt;
    report.blocks_in = usage.ru_inblock;
    report.blocks_out = usage.ru_oublock;
    report.voluntary_switches = usage.ru_nvcsw;
    report.involuntary_switches = usage.ru_nivcsw;
    if (kind == SPINDLE_TIMED_EXITED) note_orphans(&report);
    // Smaller than PIPE_BUF, so the write is atomic.
    while (write(fd, &report, sizeof(report)) < 0 && errno == EINTR) {}
}

static void run_command(const char *path, char *const argv[], char *const envp[], int report_fd, int error_fd,
                        int restore_interrupt, int restore_quit) {
    close(report_fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (restore_interrupt) signal(SIGINT, SIG_DFL);
    if (restore_quit) signal(SIGQUIT, SIG_DFL);
    execve(path, argv, envp);
    int err = errno;
    while (write(error_fd, &err, sizeof(err)) < 0 && errno == EINTR) {}
    _exit(127);
}

static void run_helper(const char *path, char *const argv[], char *const envp[], int report_fd, int wait_all,
                       int restore_interrupt, int restore_quit) {
    // Descendants that lose their parent come to the helper, so the whole tree stays under it and
    // its RUSAGE_CHILDREN covers them once reaped.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) {
        send_report(report_fd, SPINDLE_TIMED_START_FAILED, errno);
        _exit(0);
    }
    pid_t command = fork();
    if (command < 0) {
        send_report(report_fd, SPINDLE_TIMED_START_FAILED, errno);
        _exit(0);
    }
    if (command == 0) run_command(path, argv, envp, report_fd, error_pipe[1], restore_interrupt, restore_quit);
    close(error_pipe[1]);
    int exec_error = 0;
    ssize_t got;
    while ((got = read(error_pipe[0], &exec_error, sizeof(exec_error))) < 0 && errno == EINTR) {}
    close(error_pipe[0]);
    if (got == sizeof(exec_error)) {
        while (waitpid(command, NULL, 0) < 0 && errno == EINTR) {}
        send_report(report_fd, SPINDLE_TIMED_START_FAILED, exec_error);
        _exit(0);
    }
    for (;;) {
        int status = 0;
        pid_t done = waitpid(-1, &status, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            break;  // ECHILD: no descendant is left
        }
        if (done == command) {
            send_report(report_fd, SPINDLE_TIMED_EXITED, status);
            if (!wait_all) _exit(0);
        }
    }
    send_report(report_fd, SPINDLE_TIMED_TREE_DONE, 0);
    _exit(0);
}

int spindle_spawn_timed(const char *path, char *const argv[], char *const envp[], int report_fd, int wait_all,
                        int restore_interrupt, int restore_quit, pid_t *helper) {
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) run_helper(path, argv, envp, report_fd, wait_all, restore_interrupt, restore_quit);
    *helper = pid;
    return 0;
}
