import Synchronization

/// The order in which checked locks have been taken, over the whole program: an edge A → B for
/// every time some thread took B while holding A. A cycle means two threads can each hold one lock
/// of it and wait for the next: a potential deadlock, reported the first time an acquisition
/// closes it, whether or not this run deadlocked (the lockdep and Abseil approach).
final class LockOrderGraph: Sendable {
    static let shared = LockOrderGraph()

    /// The first time an order was seen: by whom, and where each lock was taken.
    private struct Edge {
        let heldName: String
        let heldSite: CallSite
        let takenName: String
        let takenSite: CallSite
        let thread: String
    }

    private struct State {
        var edges: [Int: [Int: Edge]] = [:]
        /// Cycles already reported, by their nodes, so each is reported once.
        var reported: Set<Set<Int>> = []
    }
    private let state = Locked(State(), checked: false)
    /// Bumped by ``reset()``: threads then forget the orders they remembered seeing.
    let generation = Atomic(0)

    func reset() {
        state.withLock { $0 = State() }
        generation.add(1, ordering: .relaxed)
    }

    /// Records that `thread` takes `lock` at `site` while holding `held`, and returns the report of
    /// the cycles this closes, if any.
    func willTake(_ lock: LockIdentity, at site: CallSite, holding held: [HeldLock], thread: ThreadLocks)
        -> [HazardReport]
    {
        var reports: [HazardReport] = []
        for holding in held {
            if holding.lock === lock {
                reports.append(relock(lock, at: site, heldAt: holding.site, thread: thread))
                continue
            }
            // Locks of one class taken together have no order between them to check.
            guard holding.lock.orderKey != lock.orderKey else { continue }
            let pair = LockPair(first: holding.lock.orderKey, then: lock.orderKey)
            guard thread.isNew(pair, generation: generation.load(ordering: .relaxed)) else { continue }
            let edge = Edge(
                heldName: holding.lock.name,
                heldSite: holding.site,
                takenName: lock.name,
                takenSite: site,
                thread: thread.name
            )
            if let report = add(edge, from: holding.lock.orderKey, to: lock.orderKey) { reports.append(report) }
        }
        return reports
    }

    /// Adds the edge `from` → `to` unless known, and reports the cycle it closes, if new.
    private func add(_ edge: Edge, from: Int, to: Int) -> HazardReport? {
        state.withLock { state in
            guard state.edges[from]?[to] == nil else { return nil }
            state.edges[from, default: [:]][to] = edge
            // A path back from `to` to `from` closes a cycle through the new edge.
            guard let path = Self.path(from: to, to: from, in: state.edges) else { return nil }
            let nodes = Set([from, to] + path.map(\.to))
            guard state.reported.insert(nodes).inserted else { return nil }
            let cycle = [edge] + path.map(\.edge)
            return Self.report(cycle)
        }
    }

    /// The edges of a path from `start` to `goal`, found breadth first (so the shortest), or `nil`.
    private static func path(from start: Int, to goal: Int, in edges: [Int: [Int: Edge]]) -> [(to: Int, edge: Edge)]? {
        var cameFrom: [Int: (node: Int, edge: Edge)] = [:]
        var frontier = [start]
        var seen: Set<Int> = [start]
        while !frontier.isEmpty {
            var next: [Int] = []
            for node in frontier {
                for (target, edge) in edges[node] ?? [:] where seen.insert(target).inserted {
                    cameFrom[target] = (node, edge)
                    if target == goal {
                        var path: [(to: Int, edge: Edge)] = []
                        var current = goal
                        while current != start, let step = cameFrom[current] {
                            path.append((current, step.edge))
                            current = step.node
                        }
                        return path.reversed()
                    }
                    next.append(target)
                }
            }
            frontier = next
        }
        return nil
    }

    private static func report(_ cycle: [Edge]) -> HazardReport {
        let names = cycle.map(\.heldName)
        let summary: String
        if cycle.count == 2 {
            summary =
                "`\(cycle[0].takenName)` is taken while holding `\(cycle[0].heldName)`, and elsewhere `\(cycle[0].heldName)` while holding `\(cycle[0].takenName)`: two threads doing both at once would wait for each other for ever"
        } else {
            summary =
                "the locks \((names + [names[0]]).map { "`\($0)`" }.joined(separator: " → ")) are taken in a cycle: threads doing these at once would wait for each other for ever"
        }
        let details = cycle.map { edge in
            "thread \(edge.thread) took `\(edge.heldName)` at \(edge.heldSite), then `\(edge.takenName)` at \(edge.takenSite)"
        }
        return HazardReport(
            kind: .potentialDeadlock,
            summary: summary,
            details: details,
            locks: names,
            threads: Array(Set(cycle.map(\.thread))).sorted()
        )
    }

    private func relock(_ lock: LockIdentity, at site: CallSite, heldAt: CallSite, thread: ThreadLocks) -> HazardReport
    {
        HazardReport(
            kind: .potentialDeadlock,
            summary:
                "thread \(thread.name) takes `\(lock.name)` again while holding it: it will wait for itself for ever",
            details: ["it took `\(lock.name)` at \(heldAt)", "and takes it again at \(site)"],
            locks: [lock.name],
            threads: [thread.name]
        )
    }
}
