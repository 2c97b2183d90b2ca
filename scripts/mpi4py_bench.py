"""mpi4py.futures on the jobs of SpindleMPIBench, for scripts/mpi-bench (run under mpirun with
`python3 -m mpi4py.futures`, which makes rank 0 the driver and the other ranks workers)."""
import os
import time

from mpi4py.futures import MPIPoolExecutor


def noop(x):
    return x


def echo(values):
    return values


def main():
    launched = os.environ.get("SPINDLE_LAUNCH_NS")
    with MPIPoolExecutor() as pool:
        pool.submit(noop, 1).result()
        if launched:
            print(f"launch to first result: {(time.time_ns() - int(launched)) / 1e6:.0f} ms")
        samples = []
        for i in range(500):
            start = time.perf_counter_ns()
            pool.submit(noop, i).result()
            samples.append(time.perf_counter_ns() - start)
        samples.sort()
        print(f"round trip of one job: p50 {samples[len(samples) // 2] / 1e3:.1f} µs")
        start = time.perf_counter()
        n = sum(1 for _ in pool.map(noop, range(5_000)))
        print(f"one message per job: {n / (time.perf_counter() - start):.0f} jobs/s")
        start = time.perf_counter()
        n = sum(1 for _ in pool.map(noop, range(100_000), chunksize=256))
        print(f"chunksize 256, 100,000 items: {n / (time.perf_counter() - start) / 1e6:.2f} M items/s")
        values = [1.5] * (1 << 21)
        try:
            import numpy
            values = numpy.full(1 << 21, 1.5)
        except ImportError:
            pass
        pool.submit(echo, values).result()
        best = min(_timed(pool, values) for _ in range(3))
        print(f"16 MiB to a job and back: {1 / 64 / best:.2f} GiB/s")


def _timed(pool, values):
    start = time.perf_counter()
    pool.submit(echo, values).result()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
