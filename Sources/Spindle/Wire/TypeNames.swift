/// Names types so that another process running the same binary can find them again.
///
/// A name is the Swift mangled name, which is stable across processes of one build and covers
/// generic types (`Scale<Double>`). Looking a name up only finds types compiled into this binary,
/// and the pool then only accepts those that are ``Job``s: bytes from a pipe never become code.
package enum TypeNames {
    private static let cache = Locked<[String: Any.Type]>([:])

    /// The mangled name of `type`, or `nil` for the few types that have none.
    package static func name(of type: Any.Type) -> String? {
        _mangledTypeName(type)
    }

    /// The type named by `name` in this binary, or `nil`.
    ///
    /// Names made by ``name(of:)`` are printable ASCII. Anything else is refused before it reaches
    /// the runtime: a mangled name may hold "symbolic references", control bytes followed by
    /// relative addresses, which the runtime would follow.
    package static func lookUp(_ name: String) -> Any.Type? {
        guard name.utf8.count <= 4096, name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        if let type = cache.withLock({ $0[name] }) { return type }
        // The runtime only demangles names of shapes it knows; anything else is simply not found.
        guard let type = _typeByName(name) else { return nil }
        cache.withLock { $0[name] = type }
        return type
    }

    /// A readable name for a mangled one: `Module.Type` when it can be found here, the mangled
    /// name itself otherwise.
    package static func readable(_ name: String) -> String {
        lookUp(name).map { String(reflecting: $0) } ?? name
    }
}
