/// Every error code the server sends, on both protocols: the word after `-ERR` on TCP and
/// `error.code` in an HTTP body (with `httpStatus` as the status). The store's errors, the
/// line protocol's, the HTTP layer's and the client's are all this type, so a code cannot be
/// misspelt or exist on one side only. schemas/protocol.md lists them (a test checks it).
public enum ErrorCode: String, CaseIterable, Sendable, Codable {
    // The request.
    case syntax = "SYNTAX"
    case unknownCommand = "UNKNOWN_COMMAND"
    case badRequest = "BAD_REQUEST"
    /// Not strict RFC 8259 JSON (a trailing comma, nesting over 64 levels).
    case badJSON = "BAD_JSON"
    case badType = "BAD_TYPE"
    case badValue = "BAD_VALUE"
    case missingField = "MISSING_FIELD"
    case unknownField = "UNKNOWN_FIELD"
    /// An integer outside what its key allows (named, with the value as sent).
    case outOfRange = "OUT_OF_RANGE"
    case badSchema = "BAD_SCHEMA"
    case badRecord = "BAD_RECORD"
    case badFilter = "BAD_FILTER"
    case dimensionMismatch = "DIM_MISMATCH"
    case tooLarge = "TOO_LARGE"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    // What it names.
    case notFound = "NOT_FOUND"
    case alreadyExists = "EXISTS"
    // The server.
    /// Text needs the embedding model and it is not installed (or not configured).
    case modelUnavailable = "MODEL_UNAVAILABLE"
    /// A feature that is not configured (no recipe generator, no query understanding).
    case unavailable = "UNAVAILABLE"
    case corrupt = "CORRUPT"
    /// Disk full or an I/O error, with the path.
    case io = "IO"
    /// A reload's configuration was refused; the running settings were kept.
    case badConfig = "BAD_CONFIG"
    case internalError = "INTERNAL"
    // Replication.
    /// A write sent to a replica; the message names the primary.
    case readOnly = "READONLY"
    /// A replica asked for log entries the primary no longer has, or from another history:
    /// it must copy everything again (a full sync).
    case resync = "RESYNC"
    /// REPLICAOF pointed at something that is not a compatible primary (not FragranceDB,
    /// another replication format, this server itself).
    case badPrimary = "BAD_PRIMARY"
    // Authentication.
    case notAuthenticated = "NOAUTH"
    case forbidden = "FORBIDDEN"
    case wrongPassword = "WRONGPASS"
    case rateLimited = "RATE_LIMITED"
    // The connection (TCP closes it after these).
    case lineTooLong = "LINE_TOO_LONG"
    case timeout = "TIMEOUT"
    case busy = "BUSY"
    case tooManyConnections = "TOO_MANY_CONNECTIONS"
    case idle = "IDLE"
    case protocolViolation = "PROTOCOL"

    /// The HTTP status that carries this code.
    public var httpStatus: Int {
        switch self {
        case .notFound: 404
        case .alreadyExists, .readOnly, .resync: 409
        case .tooLarge, .lineTooLong: 413
        case .methodNotAllowed: 405
        case .notAuthenticated, .wrongPassword: 401
        case .forbidden: 403
        case .rateLimited, .tooManyConnections: 429
        case .timeout, .idle: 408
        case .modelUnavailable, .unavailable, .busy: 503
        case .badPrimary: 502
        case .corrupt: 422
        case .io, .badConfig, .internalError: 500
        default: 400
        }
    }
}
