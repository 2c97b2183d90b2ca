import Testing

@testable import Spindle

/// The verdict rules on made-up figures, one per rule, so each rule's edge is pinned down.
@Suite struct TimeVerdictTests {
    func decide(
        wall: Double = 1,
        cpu: Double,
        onCPU: Double? = nil,
        runQueue: Double = 0,
        waits: [WaitKind: Double] = [:],
        peakRunnable: Double = 1,
        threadsThatRan: Int = 1,
        threadsThatWantedCPU: Int? = nil,
        allowedCPUs: Int = 2,
        otherCPU: Double = 0,
        samples: Int = 20
    ) -> TimeVerdict {
        let breakdown = TimeProfile.Breakdown(
            onCPU: onCPU ?? cpu,
            runQueue: runQueue,
            waits: waits,
            unsampledCPU: 0,
            peakRunnableThreads: peakRunnable
        )
        return TimeVerdict.decide(
            wall: wall,
            cpu: cpu,
            cpus: 2,
            breakdown: breakdown,
            threadsThatRan: threadsThatRan,
            threadsThatWantedCPU: threadsThatWantedCPU,
            allowedCPUs: allowedCPUs,
            otherCPU: otherCPU,
            steal: 0,
            samples: samples
        )
    }

    @Test func eachRule() {
        #expect(decide(wall: 0.05, cpu: 0.05).code == .tooShort)
        #expect(decide(cpu: 1, samples: 2).code == .tooShort)
        #expect(decide(cpu: 0.98).code == .oneCore)
        #expect(decide(cpu: 0.98).text == "CPU-bound on one core")
        #expect(decide(cpu: 1.95, peakRunnable: 2, threadsThatRan: 2).text == "parallel: 2.0 of 2 CPUs busy")
        let crowded = decide(cpu: 1.95, runQueue: 1.9, peakRunnable: 4.1, threadsThatRan: 4)
        #expect(crowded.code == .starvedByOwnThreads)
        #expect(crowded.text.hasPrefix("starved of CPU: your 4 threads share 2 CPUs"))
        let pinned = decide(wall: 1.8, cpu: 0.9, runQueue: 0.9, allowedCPUs: 1, otherCPU: 0.9)
        #expect(pinned.code == .starvedByOthers)
        #expect(pinned.text.hasPrefix("starved of CPU: another process took half the CPU"))
        let overshoot = decide(
            wall: 1.8,
            cpu: 0.9,
            runQueue: 0.9,
            peakRunnable: 1.6,
            threadsThatRan: 1,
            threadsThatWantedCPU: 1,
            allowedCPUs: 1,
            otherCPU: 0.9
        )
        #expect(overshoot.code == .starvedByOthers, "one thread on one CPU is never crowded by its own threads")
        #expect(decide(cpu: 0.08, waits: [.disk: 0.8]).code == .diskBound)
        let lock = decide(cpu: 1, waits: [.lock: 0.9, .join: 1], threadsThatRan: 2)
        #expect(lock.code == .serializedOnLock)
        let sleeping = decide(cpu: 0.01, waits: [.sleep: 0.9, .children: 1])
        #expect(sleeping.code == .waiting && sleeping.waitingOn == .sleep && sleeping.text.hasPrefix("mostly sleeping"))
        let parent = decide(cpu: 0.01, waits: [.children: 5, .pipe: 0.5])
        #expect(parent.waitingOn == .pipe, "a parent waiting on its children never reads as the bottleneck")
        #expect(decide(cpu: 0.6, waits: [.network: 0.4]).code == .mixed)
        // A reader blocked on a pipe for 36 s whose helper thread queued 3.6 s for a CPU on a
        // saturated machine: waiting on the pipe is what it did.
        let reader = decide(wall: 36, cpu: 0.1, onCPU: 0.1, runQueue: 3.6, waits: [.pipe: 35], otherCPU: 60)
        #expect(reader.code == .waiting && reader.waitingOn == .pipe, "\(reader.text)")
    }

    @Test func thresholdsSitWhereTheDocSays() {
        #expect(decide(cpu: 1, runQueue: 0.24).code == .oneCore, "q = 0.19 is not starved")
        #expect(decide(cpu: 1, runQueue: 0.26, peakRunnable: 3).code == .starvedByOwnThreads, "q = 0.21 is")
        #expect(decide(cpu: 0.2, waits: [.disk: 0.29]).code != .diskBound)
        #expect(decide(cpu: 0.2, waits: [.disk: 0.31]).code == .diskBound)
    }
}
