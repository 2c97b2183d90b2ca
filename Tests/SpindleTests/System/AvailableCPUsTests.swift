@testable import Spindle
import Testing

@Suite struct AvailableCPUsTests {
    @Test(
        arguments: [
            ("max 100000", nil),
            ("max 100000\n", nil),
            ("150000 100000", 2),
            ("150000 100000\n", 2),
            ("100000 100000", 1),
            ("50000 100000", 1),
            ("400000 100000", 4),
            ("", nil),
            ("garbage", nil),
            ("garbage in", nil),
            ("100000", nil),
            ("0 100000", nil),
            ("-1 100000", nil),
            ("100000 0", nil),
        ] as [(String, Int?)]
    )
    func parseCPUMax(text: String, expected: Int?) {
        #expect(AvailableCPUs.parseCPUMax(text) == expected)
    }

    @Test(
        arguments: [
            ("-1", "100000", nil),
            ("-1\n", "100000\n", nil),
            ("max", "100000", nil),
            ("200000\n", "100000\n", 2),
            (" 250000 ", "100000", 3),
            ("1", "100000", 1),
            ("100000", "0", nil),
            ("100000", "", nil),
            ("abc", "100000", nil),
        ] as [(String, String, Int?)]
    )
    func quotaCPUs(quota: String, period: String, expected: Int?) {
        #expect(AvailableCPUs.quotaCPUs(quota: quota, period: period) == expected)
    }

    /// Regression: a huge quota used to overflow `q + p - 1` in `quotaCPUs` and trap.
    @Test func hugeQuotaDoesNotTrap() async {
        await #expect(processExitsWith: .success) {
            _ = AvailableCPUs.quotaCPUs(quota: "\(Int.max)", period: "100000")
        }
    }

    @Test func countIsAtLeastOneAndWithinTheAffinityMask() throws {
        let affinity = try #require(AvailableCPUs.affinityCount(), "sched_getaffinity works on Linux")
        #expect(AvailableCPUs.count >= 1)
        #expect(AvailableCPUs.count <= affinity)
        #expect(AvailableCPUs.onlineCount() >= 1)
    }

    @Test func cgroupQuotaIsNilOrPositive() {
        if let quota = AvailableCPUs.cgroupQuota() {
            #expect(quota >= 1)
            #expect(AvailableCPUs.count <= quota)
        }
    }

    @Test func readsSmallFiles() throws {
        #expect(readSmallFile("/nonexistent/spindle-test") == nil)
        let cgroup = try #require(readSmallFile("/proc/self/cgroup"))
        #expect(!cgroup.isEmpty)
        let status = try #require(readSmallFile("/proc/self/status"))
        #expect(status.hasPrefix("Name:"))
    }
}

@Suite struct CgroupPathTests {
    @Test func pathsGoUpToTheRoot() {
        #expect(
            AvailableCPUs.selfAndAncestors(of: "/kubepods/pod1/ctr") == [
                "/kubepods/pod1/ctr", "/kubepods/pod1", "/kubepods", "",
            ]
        )
        #expect(AvailableCPUs.selfAndAncestors(of: "/") == [""])
        #expect(AvailableCPUs.selfAndAncestors(of: "") == [""])
    }
}
