/// Every failure the store reports: a stable code (the same one the TCP `-ERR` line and the HTTP
/// error body carry) and a message that names what was wrong.
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case badRequest = "BAD_REQUEST"
        /// Input that is not strict JSON (RFC 8259: no trailing commas, nesting capped).
        case badJSON = "BAD_JSON"
        case badFilter = "BAD_FILTER"
        case badSchema = "BAD_SCHEMA"
        case badRecord = "BAD_RECORD"
        case dimensionMismatch = "DIM_MISMATCH"
        case notFound = "NOT_FOUND"
        case alreadyExists = "EXISTS"
        case corrupt = "CORRUPT"
        /// Text needs the embedding model and it is not installed (or not configured).
        case modelUnavailable = "MODEL_UNAVAILABLE"
        case io = "IO"
    }

    public let code: Code
    public let message: String
    /// For parse errors: 1-based character position in the input.
    public let position: Int?

    public init(_ code: Code, _ message: String, position: Int? = nil) {
        self.code = code
        self.message = message
        self.position = position
    }

    public var description: String { "\(code.rawValue) \(message)" }
}
