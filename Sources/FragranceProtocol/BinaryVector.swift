import Foundation

/// The binary form of a vector on both protocols: `b64:` and the base64 of its components as
/// little-endian IEEE-754 float32, e.g. `SEARCH p K 10 VECTOR b64:AACAPwAAAAA=` or
/// `{"id": "a", "vector": "b64:AACAPwAAAAA="}`. A 384-dimension vector is 2,052 characters
/// instead of ~3,500 as JSON text, and it is read without parsing a number (issue #23).
public enum BinaryVector {
    public static let prefix = "b64:"

    public static func encode(_ v: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(v.count * 4)
        for f in v {
            let b = f.bitPattern.littleEndian
            withUnsafeBytes(of: b) { bytes.append(contentsOf: $0) }
        }
        return prefix + Data(bytes).base64EncodedString()
    }

    /// nil when `text` is not in the binary form; otherwise the vector, or why it is not one.
    public static func decode(_ text: some StringProtocol) -> Result<[Float], Problem>? {
        guard text.hasPrefix(prefix) else { return nil }
        guard let data = Data(base64Encoded: String(text.dropFirst(prefix.count))) else {
            return .failure(Problem("the text after b64: is not base64"))
        }
        guard data.count % 4 == 0 else { return .failure(Problem("\(data.count) bytes is not a whole number of float32 components")) }
        var out = [Float](repeating: 0, count: data.count / 4)
        data.withUnsafeBytes { raw in
            for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        }
        if let bad = out.firstIndex(where: { !$0.isFinite }) { return .failure(Problem("component \(bad) is not a finite number")) }
        return .success(out)
    }

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ s: String) { description = s }
    }
}
