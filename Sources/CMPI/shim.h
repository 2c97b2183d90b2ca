// Open MPI for Swift: the handles (MPI_COMM_WORLD, MPI_BYTE, MPI_STATUS_IGNORE) are macros that
// Swift cannot import, so the calls Spindle makes are wrapped here, with those handles filled in.
// Every call is on MPI_COMM_WORLD and moves bytes.
#ifndef SPINDLE_CMPI_SHIM_H
#define SPINDLE_CMPI_SHIM_H

#include <mpi.h>

/// MPI_Init_thread with MPI_THREAD_FUNNELED: one thread of the process makes every MPI call.
static inline int spindle_mpi_init(int *provided) {
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
}

static inline int spindle_mpi_rank(void) {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static inline int spindle_mpi_size(void) {
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/// Starts sending `count` bytes to `destination` with `tag`; `request` completes when the buffer
/// may be reused.
static inline int spindle_mpi_isend(const void *bytes, int count, int destination, int tag, MPI_Request *request) {
    return MPI_Isend(bytes, count, MPI_BYTE, destination, tag, MPI_COMM_WORLD, request);
}

/// Whether `request` has completed; frees it when it has.
static inline int spindle_mpi_test(MPI_Request *request, int *done) {
    return MPI_Test(request, done, MPI_STATUS_IGNORE);
}

/// Whether a message from any rank waits; if so, its source, tag and length in bytes.
static inline int spindle_mpi_iprobe(int *found, int *source, int *tag, int *count) {
    MPI_Status status;
    int result = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, found, &status);
    if (result == MPI_SUCCESS && *found) {
        *source = status.MPI_SOURCE;
        *tag = status.MPI_TAG;
        result = MPI_Get_count(&status, MPI_BYTE, count);
    }
    return result;
}

/// Receives the message that `spindle_mpi_iprobe` found.
static inline int spindle_mpi_recv(void *bytes, int count, int source, int tag) {
    return MPI_Recv(bytes, count, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

static inline int spindle_mpi_finalize(void) { return MPI_Finalize(); }

static inline void spindle_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

#endif
