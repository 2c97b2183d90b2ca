import Foundation

/// Python's `concurrent.futures.ThreadPoolExecutor`, measured in the same run as Spindle for the ratios.
///
/// The script is run with `python3 -c` and prints one JSON object; when no `python3` is found, the
/// run fails with a reason that the table shows instead of the figures.
enum PythonBaseline {
    struct Results: Decodable {
        var mapItemsPerSecond: Double
        var submitP50Microseconds: Double
        var submitP99Microseconds: Double
        var cpuOneWorkerSeconds: Double?
        var cpuTwoWorkersSeconds: Double?
    }

    static let script = #"""
        import json, sys, time
        from concurrent.futures import ThreadPoolExecutor

        map_items, submits, cpu_jobs, cpu_seconds, workers = (int(sys.argv[1]), int(sys.argv[2]),
            int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))

        def noop(x):
            return x

        out = {}
        with ThreadPoolExecutor(max_workers=workers) as ex:
            best = None
            for _ in range(2):
                t = time.perf_counter()
                for _ in ex.map(noop, range(map_items)):
                    pass
                dt = time.perf_counter() - t
                best = dt if best is None else min(best, dt)
            out["mapItemsPerSecond"] = map_items / best
            lat = []
            for i in range(submits):
                t = time.perf_counter_ns()
                ex.submit(noop, i).result()
                lat.append((time.perf_counter_ns() - t) / 1000)
            lat.sort()
            out["submitP50Microseconds"] = lat[len(lat) // 2]
            out["submitP99Microseconds"] = lat[min(len(lat) - 1, len(lat) * 99 // 100)]

        if cpu_jobs > 0:
            def spin(n):
                x = 0
                for i in range(n):
                    x = (x * 31 + i) & 0xFFFFFFFF
                return x
            probe = 200000
            t = time.perf_counter(); spin(probe); rate = probe / (time.perf_counter() - t)
            n = int(rate * cpu_seconds)
            for w, key in ((1, "cpuOneWorkerSeconds"), (2, "cpuTwoWorkersSeconds")):
                with ThreadPoolExecutor(max_workers=w) as ex:
                    t = time.perf_counter()
                    list(ex.map(spin, [n] * cpu_jobs))
                    out[key] = time.perf_counter() - t
        print(json.dumps(out))
        """#

    /// Runs the script; a failure (with its reason) when Python is missing or fails.
    static func run(mapItems: Int, submits: Int, cpuJobs: Int, cpuSeconds: Double, workers: Int) -> Result<
        Results, CLIError
    > {
        runScript(
            arguments: ["-c", script, "\(mapItems)", "\(submits)", "\(cpuJobs)", "\(cpuSeconds)", "\(workers)"],
            decoding: Results.self
        )
    }

    /// Runs `script` from a temporary file, which process pools that spawn their workers need (they
    /// import the main module), with `arguments`; decodes the one JSON object it prints.
    static func runScriptFile<T: Decodable>(
        _ script: String,
        arguments: [String] = [],
        decoding: T.Type
    ) -> Result<T, CLIError> {
        let path = NSTemporaryDirectory() + "spindle-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).py"
        do {
            try script.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            return .failure(CLIError("cannot write the Python script: \(error)"))
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return runScript(arguments: [path] + arguments, decoding: decoding)
    }

    /// How long a script may run: Python's process pools can hang (a pool once waited for ever
    /// here on a worker that had died), and a benchmark must not.
    static let timeLimitSeconds = 300

    /// Runs `python3` with `arguments` and decodes the one JSON object it prints.
    ///
    /// The script runs under coreutils' `timeout`, in a process group of its own that is killed
    /// whole (`SIGKILL`) when the time limit passes, the script's pool workers included.
    static func runScript<T: Decodable>(
        arguments: [String],
        decoding: T.Type,
        timeLimitSeconds: Int = timeLimitSeconds
    ) -> Result<T, CLIError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["timeout", "--signal=KILL", "\(timeLimitSeconds)", "python3"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(CLIError("python3 could not be started: \(error)"))
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            // At the limit, timeout kills its whole group, itself included (or exits 124); it (and
            // env) exit 127 when they find no such program.
            if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
                || process.terminationReason == .exit && process.terminationStatus == 124
            {
                return .failure(CLIError("python3 did not finish within \(timeLimitSeconds) s, and was stopped"))
            }
            if process.terminationStatus == 127 {
                return .failure(CLIError("python3 (or coreutils' timeout) is not on the PATH"))
            }
            return .failure(CLIError("python3 exited with status \(process.terminationStatus)"))
        }
        do {
            return .success(try JSONDecoder().decode(T.self, from: data))
        } catch {
            return .failure(CLIError("python3 printed no results: \(error)"))
        }
    }
}
