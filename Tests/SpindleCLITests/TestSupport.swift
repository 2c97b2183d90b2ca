import Spindle

/// An executable built next to the test bundle, such as `spindle`, whose `main` serves as a
/// ProcessPool worker (the test bundle's own `main` cannot).
func siblingExecutable(_ name: String) -> String {
    let me = currentExecutablePath()
    return me[..<(me.lastIndex(of: "/") ?? me.startIndex)] + "/" + name
}
