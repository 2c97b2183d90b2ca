internal import CSpindle
internal import Glibc

/// Starts a named, detached OS thread running `body`.
///
/// - Throws: ``SpindleError/Code/systemError`` when the system refuses another thread.
package func startDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SpindleError) {
    final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let err = pthread_create(
        &thread,
        nil,
        { argument in
            let context = Unmanaged<Context>.fromOpaque(argument!).takeRetainedValue()
            _ = spindle_set_thread_name(context.name)
            context.body()
            return nil
        },
        context
    )
    guard err == 0 else {
        Unmanaged<Context>.fromOpaque(context).release()
        throw .system("pthread_create for \(name)", err)
    }
    pthread_detach(thread)
}
