import Testing

@testable import Spindle

/// The /proc parsers and the wait classification, on text captured from this kind of machine.
@Suite struct ProcFSTests {
    @Test func aStatLineIsParsedFromTheLastParenthesis() throws {
        let line =
            "4242 (a) b (c)) D 17 4242 4242 0 -1 4194560 100 0 0 0 91 3 0 0 20 0 3 0 123456 1000 200 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 7 0 0\n"
        let stat = try #require(TaskStat(Array(line.utf8)[...]))
        #expect(stat.command == "a) b (c)")
        #expect(stat.state == UInt8(ascii: "D"))
        #expect(stat.parent == 17)
        #expect(stat.startTicks == 123456)
        #expect(stat.blockIOTicks == 7)
        #expect(TaskStat(Array("garbage".utf8)[...]) == nil)
    }

    @Test func schedstatIoSyscallAndMachineLines() throws {
        let sched = try #require(TaskSchedStat(Array("921600000 40000 12\n".utf8)[...]))
        #expect(sched.runNanoseconds == 921_600_000 && sched.waitNanoseconds == 40_000 && sched.timeslices == 12)

        let io = try #require(
            ProcessIO(
                Array(
                    "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
                        .utf8
                )[...]
            )
        )
        #expect(io.readBytes == 4096 && io.writeBytes == 8192 && io.readChars == 10 && io.writeChars == 20)

        let call = try #require(
            TaskSyscall(Array("202 0x7f334e9a0990 0x109 0x74fc 0x0 0x0 0xffffffff 0x7ffd 0x7f33\n".utf8)[...])
        )
        #expect(call.number == 202 && call.arguments.prefix(3) == [0x7f33_4e9a_0990, 0x109, 0x74fc])
        #expect(TaskSyscall(Array("running\n".utf8)[...]) == nil)

        let machine = try #require(MachineCPUTicks(Array("cpu  100 5 20 900 3 1 2 7 0 0\ncpu0 1 2 3\n".utf8)[...]))
        #expect(machine.busy == 100 + 5 + 20 + 1 + 2 && machine.steal == 7)
    }

    @Test(
        arguments: [
            // (syscall line, fd target, expected)
            ("202 0x558e 0x80 0x2 0x0", nil, WaitKind.lock),  // glibc mutex, contended
            ("202 0x558e 0x86 0x0 0x0", nil, .lock),  // FUTEX_LOCK_PI_PRIVATE (Swift's Mutex)
            ("202 0x7f33 0x109 0x74fc 0x0", nil, .join),  // pthread_join waits on the joined thread's tid
            ("202 0x7f33 0x189 0x5 0x0", nil, .condition),  // condition variable
            ("0 0x3 0x7fa9 0x1", "pipe:[60708]", .pipe),
            ("45 0x4 0x7fa9 0x1", "socket:[1234]", .network),
            ("0 0x0 0x7fa9 0x1", "/dev/pts/0", .terminal),
            ("230 0x0 0x0 0x7fa9", nil, .sleep),
            ("61 0xffffffff 0x7ffd 0x0", nil, .children),
            ("232 0x5 0x7ffd 0x10", nil, .poll),
            ("34 0x0 0x0 0x0", nil, .other),  // pause
        ] as [(String, String?, WaitKind)]
    )
    func blockedSystemCallsAreClassified(line: String, target: String?, expected: WaitKind) throws {
        let call = try #require(TaskSyscall(Array(line.utf8)[...]))
        let kind = WaitKind.classify(call, descriptorTarget: { _ in target }, isThreadOfProcess: { $0 == 0x74fc })
        #expect(kind == expected)
    }

    @Test func kernelFunctionsAreTheFallback() {
        #expect(WaitKind.classify(kernelFunction: "futex_do_wait") == .lock)
        #expect(WaitKind.classify(kernelFunction: "do_wait") == .children)
        #expect(WaitKind.classify(kernelFunction: "hrtimer_nanosleep") == .sleep)
        #expect(WaitKind.classify(kernelFunction: "anon_pipe_read") == .pipe)
        #expect(WaitKind.classify(kernelFunction: "0") == nil, "a thread that runs again is not waiting")
        #expect(WaitKind.join.isStructural && WaitKind.children.isStructural && !WaitKind.lock.isStructural)
    }
}
