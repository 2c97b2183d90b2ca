// TEMPORARY stand-in until the binary coder lands.
import Foundation

package struct WireError: Error, CustomStringConvertible, Sendable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

package enum WireEncoder {
    package static func encode<T: Encodable>(_ value: T, into bytes: inout [UInt8]) throws(WireError) {
        do {
            bytes.append(contentsOf: try JSONEncoder().encode([value]))
        } catch {
            throw WireError("\(error)")
        }
    }
}

package enum WireDecoder {
    package static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(WireError) -> T
    {
        do {
            return try JSONDecoder().decode([T].self, from: Data(bytes))[0]
        } catch {
            throw WireError("\(error)")
        }
    }
}
