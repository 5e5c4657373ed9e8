import FragranceProtocol

/// Every failure the store reports: a stable code (the same one the TCP `-ERR` line and the HTTP
/// error body carry) and a message that names what was wrong.
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The one code list both protocols use (FragranceProtocol).
    public typealias Code = ErrorCode

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
