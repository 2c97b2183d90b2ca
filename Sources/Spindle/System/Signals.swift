internal import Glibc

/// "SIGSEGV (segmentation fault)": a signal's name and what it usually means.
func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
    ]
    let meanings: [Int32: String] = [
        SIGSEGV: "segmentation fault", SIGBUS: "bus error", SIGABRT: "abort", SIGILL: "illegal instruction",
        SIGTRAP: "trap, as from a Swift runtime error such as fatalError", SIGFPE: "arithmetic error",
        SIGKILL: "kill, as from the OOM killer or kill -9", SIGTERM: "termination request",
        SIGPIPE: "broken pipe", SIGXCPU: "CPU time limit",
    ]
    let name = names[signal] ?? "signal \(signal)"
    return meanings[signal].map { "\(name) (\($0))" } ?? name
}
