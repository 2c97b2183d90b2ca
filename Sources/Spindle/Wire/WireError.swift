/// Why a value could not be encoded to, or decoded from, Spindle's binary wire format.
///
/// Malformed or truncated bytes, a type that does not match what was encoded, and a
/// `DecodingError` or `EncodingError` thrown by a type's own `Codable` code all surface as this
/// one error, with a message that names the coding path and what was wrong.
///
/// ```swift
/// do {
///     let point = try bytes.withUnsafeBytes { try WireDecoder.decode(Point.self, from: $0) }
/// } catch let error as WireError {
///     print(error.message)   // "type mismatch at .x: expected Double, found string"
/// }
/// ```
package struct WireError: Error, CustomStringConvertible, Sendable, Hashable {
    /// A sentence for humans: what went wrong and, where known, at which coding path.
    package let message: String

    /// Creates an error with a human-readable message.
    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

extension WireError {
    /// Describes a coding path the way Swift code would spell it: `.items[3].name`, or `top level`.
    static func describe(_ path: [any CodingKey]) -> String {
        if path.isEmpty { return "top level" }
        var text = ""
        for key in path {
            if let index = key.intValue, key.stringValue == "Index \(index)" {
                text += "[\(index)]"
            } else {
                text += ".\(key.stringValue)"
            }
        }
        return text
    }

    /// Wraps a `DecodingError`, whether the decoder or a type's own `init(from:)` threw it.
    init(_ error: DecodingError, decoding type: Any.Type) {
        let detail: String
        switch error {
        case .typeMismatch(let expected, let context):
            detail =
                "type mismatch at \(Self.describe(context.codingPath)): expected \(expected): "
                + context.debugDescription
        case .valueNotFound(let expected, let context):
            detail =
                "value not found at \(Self.describe(context.codingPath)): expected \(expected): "
                + context.debugDescription
        case .keyNotFound(let key, let context):
            detail =
                "key '\(key.stringValue)' not found at \(Self.describe(context.codingPath)): "
                + context.debugDescription
        case .dataCorrupted(let context):
            detail = "data corrupted at \(Self.describe(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            detail = "\(error)"
        }
        self.init("cannot decode \(type): \(detail)")
    }

    /// Wraps an `EncodingError` thrown by a type's own `encode(to:)`.
    init(_ error: EncodingError, encoding type: Any.Type) {
        let detail: String
        switch error {
        case .invalidValue(let value, let context):
            detail = "invalid value \(value) at \(Self.describe(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            detail = "\(error)"
        }
        self.init("cannot encode \(type): \(detail)")
    }
}
