import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// ProcessChannel: a job streams values back while it runs, and the stream ends when the job
/// finishes it, drops it or dies.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProcessChannelTests {
    @Test func aJobStreamsProgressThatIsReadWhileItRuns() async throws {
        for finishes in [true, false] {
            let (sender, receiver) = try ProcessChannel<Int>.make(capacity: 4)
            let acks = try ProcessQueue<Int>(capacity: 4)
            try await withTestPool(closing: {
                sender.finish(); acks.close()
            }) { pool in
                let job = pool.submit(StreamProgress(progress: sender, acks: acks, finishes: finishes), 20)
                var steps: [Int] = []
                // The job waits for each acknowledgement before it sends the next step, so each
                // step is read while the job runs, not at its end.
                for try await step in receiver {
                    steps.append(step)
                    try await acks.put(step)
                }
                #expect(steps == Array(1...20), "finishes: \(finishes)")
                #expect(try await job.value == 20)
            }
        }
    }

    @Test func theStreamEndsWithAnErrorWhenTheSendingProcessDies() async throws {
        let (sender, receiver) = try ProcessChannel<Int>.make(capacity: 16)
        try await withTestPool(workers: 1, closing: sender.finish) { pool in
            let job = pool.submit(SendThenDie(progress: sender), 5)
            var steps: [Int] = []
            let error = await #expect(throws: SpindleError.self) {
                for try await step in receiver { steps.append(step) }
            }
            #expect(error?.code == .workerDied)
            #expect(steps == Array(1...5), "what was sent before the death is read first")
            await #expect(throws: SpindleError.self) { try await job.value }
        }
    }

    @Test func onAThreadPoolFinishEndsTheStream() async throws {
        let (sender, receiver) = try ProcessChannel<String>.make()
        let pool = try ThreadPool(workers: 2)
        let job = pool.submit(SendWords(sender: sender), 3)
        var words: [String] = []
        for try await word in receiver { words.append(word) }
        #expect(words == ["word 0", "word 1", "word 2"])
        #expect(try await job.value == 3)
        await pool.shutdown()
    }

    @Test func droppingTheReceiverClosesTheChannelForTheSender() async throws {
        var pair: (sender: ProcessChannel<Int>.Sender, receiver: ProcessChannel<Int>.Receiver)? =
            try ProcessChannel<Int>.make(capacity: 1)
        let sender = pair!.sender
        try await sender.send(1)
        pair = nil
        await expectSpindleError(.closed) { try await sender.send(2) }
    }
}

/// Sends "word 0", "word 1"... then finishes its channel.
struct SendWords: Job {
    var sender: ProcessChannel<String>.Sender
    func run(_ count: Int) async throws -> Int {
        for i in 0..<count { try await sender.send("word \(i)") }
        sender.finish()
        return count
    }
}
