#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CSpindle.h"

int spindle_affinity_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int spindle_thread_affinity(pid_t tid, uint64_t *mask, int words) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof(set), &set) != 0) return -1;
    for (int i = 0; i < words; i++) mask[i] = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu / 64 < words; cpu++) {
        if (CPU_ISSET(cpu, &set)) mask[cpu / 64] |= (uint64_t)1 << (cpu % 64);
    }
    return CPU_COUNT(&set);
}

pid_t spindle_gettid(void) { return gettid(); }

int spindle_thread_rusage(struct rusage *usage) { return getrusage(RUSAGE_THREAD, usage); }

int spindle_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int spindle_open_direct(const char *path) {
    return open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
}

int spindle_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = '\0';
    return pthread_setname_np(pthread_self(), truncated);
}

int spindle_get_thread_name(char *buffer, size_t size) {
    return pthread_getname_np(pthread_self(), buffer, size);
}

int spindle_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *parent_fds, const int *child_fds, int count, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int err = posix_spawn_file_actions_init(&actions);
    if (err != 0) return err;
    err = posix_spawnattr_init(&attributes);
    if (err != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return err;
    }
    // The dup2s run in order in the child, so a parent descriptor numbered like an earlier
    // target would be overwritten before it is copied. Copies above every target avoid that.
    int highest = 2;
    for (int i = 0; i < count; i++) {
        if (child_fds[i] > highest) highest = child_fds[i];
    }
    int copies[16];
    int copied = 0;
    if (count > 16) err = EINVAL;
    while (err == 0 && copied < count) {
        int copy = fcntl(parent_fds[copied], F_DUPFD_CLOEXEC, highest + 1);
        if (copy < 0) {
            err = errno;
        } else {
            copies[copied++] = copy;
        }
    }
    if (err == 0) err = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (int i = 0; err == 0 && i < count; i++) {
        err = posix_spawn_file_actions_adddup2(&actions, copies[i], child_fds[i]);
    }
    if (err == 0) err = posix_spawn_file_actions_addclosefrom_np(&actions, highest + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (err == 0) err = posix_spawnattr_setsigmask(&attributes, &none);
    if (err == 0) err = posix_spawnattr_setsigdefault(&attributes, &all);
    if (err == 0) err = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (err == 0) err = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    for (int i = 0; i < copied; i++) close(copies[i]);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return err;
}

int spindle_pidfd_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

int spindle_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int spindle_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int spindle_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int spindle_poll(struct pollfd *fds, unsigned long count, int64_t timeout_ns) {
    struct timespec timeout = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    return ppoll(fds, count, timeout_ns < 0 ? NULL : &timeout, NULL);
}

int spindle_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

void spindle_keep_large_allocations(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int spindle_set_timer_slack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}

void spindle_line_buffer_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int spindle_die_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
}

uint64_t spindle_atomic_load_u64(const uint64_t *address) { return __atomic_load_n(address, __ATOMIC_SEQ_CST); }
void spindle_atomic_store_u64(uint64_t *address, uint64_t value) { __atomic_store_n(address, value, __ATOMIC_SEQ_CST); }
uint32_t spindle_atomic_load_u32(const uint32_t *address) { return __atomic_load_n(address, __ATOMIC_SEQ_CST); }
void spindle_atomic_store_u32(uint32_t *address, uint32_t value) { __atomic_store_n(address, value, __ATOMIC_SEQ_CST); }
int spindle_atomic_cas_u32(uint32_t *address, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n(address, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

ssize_t spindle_send_descriptors(int socket, const void *bytes, size_t length, const int *descriptors, int count, int flags) {
    if (count < 0 || count > SPINDLE_MAX_ATTACHED) {
        errno = EINVAL;
        return -1;
    }
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = length};
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
    union {
        char buffer[CMSG_SPACE(sizeof(int) * SPINDLE_MAX_ATTACHED)];
        struct cmsghdr align;
    } control;
    if (count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), descriptors, sizeof(int) * count);
    }
    return sendmsg(socket, &message, flags);
}

ssize_t spindle_receive_descriptors(int socket, void *bytes, size_t length, int *descriptors, int capacity, int *count, int *truncated, int flags) {
    struct iovec vector = {.iov_base = bytes, .iov_len = length};
    union {
        char buffer[CMSG_SPACE(sizeof(int) * SPINDLE_MAX_ATTACHED)];
        struct cmsghdr align;
    } control;
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof(control.buffer)};
    *count = 0;
    *truncated = 0;
    ssize_t received = recvmsg(socket, &message, flags | MSG_CMSG_CLOEXEC);
    if (received < 0) return received;
    if (message.msg_flags & MSG_CTRUNC) *truncated = 1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received_descriptors = (int *)CMSG_DATA(header);
        for (int i = 0; i < n; i++) {
            if (*count < capacity) {
                descriptors[(*count)++] = received_descriptors[i];
            } else {
                close(received_descriptors[i]);
                *truncated = 1;
            }
        }
    }
    return received;
}

int spindle_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns) {
    struct timespec timeout, *limit = NULL;
    if (timeout_ns >= 0) {
        timeout.tv_sec = timeout_ns / 1000000000;
        timeout.tv_nsec = timeout_ns % 1000000000;
        limit = &timeout;
    }
    return (int)syscall(SYS_futex, address, FUTEX_WAIT, expected, limit, NULL, 0);
}

int spindle_futex_wake(uint32_t *address, int count) {
    return (int)syscall(SYS_futex, address, FUTEX_WAKE, count, NULL, NULL, 0);
}

// ---- Process-shared synchronisation (ProcessLock) ----

int spindle_mutex_clocklock_monotonic(void *mutex, int64_t deadline_ns) {
    struct timespec limit = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    return pthread_mutex_clocklock((pthread_mutex_t *)mutex, CLOCK_MONOTONIC, &limit);
}

static inline void spindle_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

_Static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0, "glibc's mutex lock word comes first");

int spindle_robust_mutex_lock(void *mutex, int spins) {
    pthread_mutex_t *m = (pthread_mutex_t *)mutex;
    int err = pthread_mutex_trylock(m);
    if (err != EBUSY) return err;
    // glibc's lock word comes first and is 0 when free: reading it costs no write to the line,
    // unlike a trylock, so the holder's unlock is not slowed by the spinner.
    const int *word = (const int *)m;
    for (int i = 0; i < spins; i++) {
        spindle_cpu_relax();
        if (__atomic_load_n(word, __ATOMIC_RELAXED) != 0) continue;
        err = pthread_mutex_trylock(m);
        if (err != EBUSY) return err;
    }
    return pthread_mutex_lock(m);
}

// ---- end of process-shared synchronisation ----
