#ifndef CSPINDLE_H
#define CSPINDLE_H

#include <stdint.h>
#include <sys/types.h>

/// C shims for what Swift cannot import from glibc: the GNU-only calls and the macros.
/// Every symbol is prefixed spindle_.

/// The number of CPUs in the calling process's affinity mask (sched_getaffinity + CPU_COUNT),
/// or -1 with errno set.
int spindle_affinity_count(void);

/// The CPUs thread `tid` may run on (sched_getaffinity), as a bit mask of `words` 64-bit words;
/// returns how many there are, or -1 with errno set.
int spindle_thread_affinity(pid_t tid, uint64_t *mask, int words);

/// The calling thread's id (gettid).
pid_t spindle_gettid(void);

struct rusage;
/// getrusage(RUSAGE_THREAD): the calling thread's own resource usage; -1 with errno set.
int spindle_thread_rusage(struct rusage *usage);

/// Restricts the calling thread to one CPU (sched_setaffinity); -1 with errno set.
int spindle_pin_to_cpu(int cpu);

/// Opens `path` read-only past the page cache (O_DIRECT); -1 with errno set (EINVAL where the
/// file system refuses direct I/O, as tmpfs does).
int spindle_open_direct(const char *path);

/// Names the calling thread (pthread_setname_np); Linux keeps the first 15 bytes.
int spindle_set_thread_name(const char *name);

/// Copies the calling thread's name (pthread_getname_np) into `buffer` of `size` bytes (16 is
/// enough), NUL-terminated; 0 or an errno value.
int spindle_get_thread_name(char *buffer, size_t size);

/// Starts `path` with `argv` and `envp` (NULL-terminated) as a worker process: its stdin is
/// /dev/null, `parent_fds[i]` becomes
/// descriptor `child_fds[i]` in the child for each of `count` pairs, every other descriptor above the
/// highest child descriptor is closed, and the signal mask and dispositions are reset. Returns 0 and
/// sets `*pid`, or returns an errno value.
int spindle_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *parent_fds, const int *child_fds, int count, pid_t *pid);

/// pidfd_send_signal(2): signals the process behind a pidfd, never a process that reused its pid;
/// -1 with errno set (ESRCH once it has exited).
int spindle_pidfd_signal(int pidfd, int signal);

/// pidfd_open(2): a descriptor that becomes readable when the process exits; -1 with errno set.
int spindle_pidfd_open(pid_t pid);

/// pipe2(2) with O_CLOEXEC; -1 with errno set.
int spindle_pipe_cloexec(int fds[2]);

/// eventfd(2), non-blocking and close-on-exec; -1 with errno set.
int spindle_eventfd(void);

struct pollfd;
/// ppoll(2) with a timeout in nanoseconds; a negative timeout waits for ever.
int spindle_poll(struct pollfd *fds, unsigned long count, int64_t timeout_ns);

/// memfd_create(2) with MFD_CLOEXEC; -1 with errno set.
int spindle_memfd_create(const char *name);

/// Tunes glibc's allocator for a process that moves large buffers: freed blocks up to 32 MiB stay in
/// the heap for reuse (M_MMAP_THRESHOLD) and the heap is not trimmed below 256 MiB (M_TRIM_THRESHOLD).
void spindle_keep_large_allocations(void);

/// Makes stdout line-buffered, so that each line reaches a pipe as it is printed.
void spindle_line_buffer_stdout(void);

/// Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK), by how much the kernel may
/// delay the end of its timed sleeps to group wake-ups; 50 µs by default. Returns 0 or -1.
int spindle_set_timer_slack(unsigned long nanoseconds);

/// Makes the calling process receive SIGKILL when the thread that started it exits (PR_SET_PDEATHSIG).
int spindle_die_with_parent(void);

/// Sequentially consistent atomic operations on 32- and 64-bit words in memory shared between processes.
uint64_t spindle_atomic_load_u64(const uint64_t *address);
void spindle_atomic_store_u64(uint64_t *address, uint64_t value);
uint32_t spindle_atomic_load_u32(const uint32_t *address);
void spindle_atomic_store_u32(uint32_t *address, uint32_t value);
/// Compare-and-swap; returns whether `*address` held `expected` and now holds `desired`.
int spindle_atomic_cas_u32(uint32_t *address, uint32_t expected, uint32_t desired);

/// Locks a process-shared robust mutex like pthread_mutex_lock, but first spins up to `spins` times
/// while another thread holds it: glibc never spins on a robust mutex, and for one held only for a
/// short copy, a spin is far cheaper than the futex sleep and wake-up (system calls on both sides).
/// Returns what pthread_mutex_lock or pthread_mutex_trylock returned (0, EOWNERDEAD, ...).
int spindle_robust_mutex_lock(void *mutex, int spins);

/// Sends `length` bytes on a Unix socket like send(2), with `count` descriptors attached
/// (SCM_RIGHTS; at most SPINDLE_MAX_ATTACHED); returns the bytes sent or -1 with errno set.
ssize_t spindle_send_descriptors(int socket, const void *bytes, size_t length, const int *descriptors, int count, int flags);

/// Receives up to `length` bytes like recv(2), storing descriptors that came with them (made
/// close-on-exec) in `descriptors` and their number in `*count`. Sets `*truncated` when the kernel
/// dropped descriptors that did not fit or could not be installed. Returns the bytes received or -1.
ssize_t spindle_receive_descriptors(int socket, void *bytes, size_t length, int *descriptors, int capacity, int *count, int *truncated, int flags);

/// The most descriptors one send may carry (the kernel's SCM_MAX_FD).
#define SPINDLE_MAX_ATTACHED 253

/// futex(2) FUTEX_WAIT on a word in memory shared between processes (not FUTEX_PRIVATE): sleeps while
/// `*address == expected`, at most `timeout_ns` (negative: no limit). Returns 0 when woken, or -1
/// with errno EAGAIN (the word had changed), ETIMEDOUT or EINTR.
int spindle_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns);
/// futex(2) FUTEX_WAKE for shared memory: wakes up to `count` waiters; returns how many woke.
int spindle_futex_wake(uint32_t *address, int count);

/// What the helper of `spindle_spawn_timed` reports, one fixed-size record per event.
enum {
    /// The command exited; `status` is its wait status.
    SPINDLE_TIMED_EXITED = 1,
    /// The command could not be started; `status` is the errno of fork or execve.
    SPINDLE_TIMED_START_FAILED = 2,
    /// Every descendant has exited and been reaped (only with `wait_all`).
    SPINDLE_TIMED_TREE_DONE = 3,
};

/// One event of a timed command, with the resource usage of everything the helper reaped so far
/// (RUSAGE_CHILDREN: the command and its whole tree, orphans included, never the helper itself).
struct spindle_timed_report {
    int32_t kind;
    int32_t status;
    /// CLOCK_MONOTONIC at the event, in nanoseconds.
    int64_t end_ns;
    int64_t user_us, system_us, max_rss_kb, minor_faults, major_faults, blocks_in, blocks_out;
    int64_t voluntary_switches, involuntary_switches;
    /// With EXITED: how many other children the helper still has (orphans of the command, still
    /// running), and the first few of their pids.
    int32_t orphan_count;
    int32_t orphans[15];
};

/// Runs `path` (an absolute or relative path, not searched in PATH) under a helper process made a
/// child subreaper, so that every descendant of the command, orphans included, stays below it.
/// The helper writes `spindle_timed_report` records to `report_fd`: EXITED when the command exits
/// (and then it exits too, unless `wait_all`), START_FAILED when it cannot start, TREE_DONE when the
/// last descendant is gone. The command inherits every descriptor except `report_fd`; its signal
/// mask is cleared and SIGINT/SIGQUIT are set back to their defaults where asked. Returns 0 and the
/// helper's pid, or an errno value.
int spindle_spawn_timed(const char *path, char *const argv[], char *const envp[], int report_fd, int wait_all,
                        int restore_interrupt, int restore_quit, pid_t *helper);

// ---- Process-shared synchronisation (ProcessLock) ----

/// pthread_mutex_clocklock(3) on CLOCK_MONOTONIC (GNU-only, so Swift cannot import it): takes the
/// pthread mutex at `mutex`, waiting until CLOCK_MONOTONIC reaches `deadline_ns`. Returns 0 or an
/// errno value (ETIMEDOUT, EOWNERDEAD, ...), as pthread_mutex_lock does.
int spindle_mutex_clocklock_monotonic(void *mutex, int64_t deadline_ns);

// ---- end of process-shared synchronisation ----

#endif
