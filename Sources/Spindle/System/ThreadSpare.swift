internal import Glibc

/// One object per thread, lent out and given back: how the wire coder keeps its state, its arrays'
/// capacity and its caches from one message to the next, with no lock and no allocation.
///
/// A thread that takes the object while it is out (a value whose `encode(to:)` encodes another
/// message, say) gets `nil` and makes its own; the first one given back is kept.
struct ThreadSpare<Object: AnyObject>: @unchecked Sendable {
    // @unchecked Sendable: the key is immutable, and each thread sees only its own slot.
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        let err = pthread_key_create(&key) { pointer in
            // The thread is exiting: let go of its object.
            if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
        }
        precondition(err == 0, "pthread_key_create failed: \(err)")
        self.key = key
    }

    /// The calling thread's object, which it no longer holds; `nil` if it has none.
    func take() -> Object? {
        guard let pointer = pthread_getspecific(key) else { return nil }
        pthread_setspecific(key, nil)
        return Unmanaged<Object>.fromOpaque(pointer).takeRetainedValue()
    }

    /// Keeps `object` for the calling thread's next ``take()``, unless it already holds one.
    func giveBack(_ object: Object) {
        guard pthread_getspecific(key) == nil else { return }
        pthread_setspecific(key, Unmanaged.passRetained(object).toOpaque())
    }
}
