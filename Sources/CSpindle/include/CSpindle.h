#ifndef CSPINDLE_H
#define CSPINDLE_H

/// C shims for what Swift cannot import from glibc: the GNU-only calls and the macros.
/// Every symbol is prefixed spindle_.

/// The number of CPUs in the calling process's affinity mask (sched_getaffinity + CPU_COUNT),
/// or -1 with errno set.
int spindle_affinity_count(void);

/// Names the calling thread (pthread_setname_np); Linux keeps the first 15 bytes.
int spindle_set_thread_name(const char *name);

#endif
