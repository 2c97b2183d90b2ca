import Glibc
import PoolConformance
import Spindle

/// The worker executable the tests' pools run: `SpindleTestWorker`, built next to the test bundle.
let testWorkerPath: String = {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    precondition(n > 0, "cannot read /proc/self/exe")
    let me = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let directory = me[..<(me.lastIndex(of: "/") ?? me.startIndex)]
    return directory + "/SpindleTestWorker"
}()

/// A process pool of the test worker.
func makeTestPool(workers: Int = 2, _ configure: (inout ProcessPool.Options) -> Void = { _ in }) throws -> ProcessPool {
    var options = ProcessPool.Options(executable: testWorkerPath)
    configure(&options)
    return try ProcessPool(workers: workers, options: options)
}
