import FragranceProtocol
import FragranceStore
import Foundation
import Hummingbird
import NIOCore

/// The request context of the HTTP API: who is calling, from where.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public let remoteAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Every HTTP error: `{"error": {"code": …, "message": …, "field": …}}`, with the same codes
/// as the line protocol's `-ERR` replies.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: ErrorCode
    public var message: String
    public var field: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status.code) \(code.rawValue) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var error: [String: Any] = ["code": code.rawValue, "message": message]
        if let field { error["field"] = field }
        var r = JSONReply(["error": error], status: status).response()
        for h in headers { r.headers.append(h) }
        return r
    }

    /// Maps any error the store, the protocol layer or Hummingbird throws to an API error.
    static func from(_ error: Error, database: Database? = nil) -> APIError {
        if let database, !(error is StoreError), let e = StoreError.from(error, database: database) { return from(e) }
        switch error {
        case let e as APIError: return e
        case let e as StoreError:
            return APIError(HTTPResponse.Status(code: e.code.httpStatus), e.code, e.message)
        case let e as ProtocolError:
            return APIError(HTTPResponse.Status(code: e.code.httpStatus), e.code, e.message)
        case let e as ServerConfiguration.Invalid:
            return APIError(.internalServerError, .badConfig, "configuration refused, running settings kept: \(e.description)")
        case let e as HTTPError:
            let code: ErrorCode = switch e.status {
            case .notFound: .notFound
            case .contentTooLarge: .tooLarge
            case .methodNotAllowed: .methodNotAllowed
            case .requestTimeout: .timeout
            default: e.status.code >= 500 ? .internalError : .badRequest
            }
            let message = e.body ?? (e.status == .notFound ? "no such route; see /docs" : e.status.reasonPhrase)
            return APIError(e.status, code, message)
        default:
            return APIError(.internalServerError, .internalError, "\(error)")
        }
    }
}

/// A JSON response from a plain dictionary or array (JSONSerialization: the shapes here are
/// dynamic, records carry whatever fields their schema has).
struct JSONReply: ResponseGenerator {
    var value: Any
    var status: HTTPResponse.Status = .ok

    init(_ value: Any, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    func response() -> Response {
        let buffer = ByteBuffer(string: JSONWriter.text(value))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response() }
}

/// A request body that must be a JSON object with only known fields, read with typed getters
/// whose errors name the field.
struct JSONBody: @unchecked Sendable {   // immutable after init
    let object: [String: Any]

    init(_ buffer: ByteBuffer, allowed: Set<String>) throws {
        guard buffer.readableBytes > 0 else { throw APIError(.badRequest, .badJSON, "the request needs a JSON object body") }
        let value: Any
        do { value = try StrictJSON.parse(Data(buffer.readableBytesView)) }
        catch let e as StoreError { throw APIError(.badRequest, .badJSON, "the body is \(e.message)") }
        guard let o = value as? [String: Any] else { throw APIError(.badRequest, .badJSON, "the body must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError(.badRequest, .unknownField, "unknown field '\(unknown)' (known: \(allowed.sorted().joined(separator: ", ")))", field: unknown)
        }
        object = o
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }

    func has(_ k: String) -> Bool { object[k] != nil && !(object[k] is NSNull) }

    func string(_ k: String, required: Bool = false, maxLength: Int = 65_536) throws -> String? {
        guard has(k) else {
            if required { throw APIError(.badRequest, .missingField, "'\(k)' is required", field: k) }
            return nil
        }
        guard let s = object[k] as? String else { throw APIError(.badRequest, .badType, "'\(k)' must be a string", field: k) }
        if required && s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw APIError(.badRequest, .badValue, "'\(k)' must not be empty", field: k)
        }
        // The same code and status as the line protocol's TOO_LARGE for over-long query text.
        guard s.utf8.count <= maxLength * 4, s.count <= maxLength else {
            throw APIError(.contentTooLarge, .tooLarge, "'\(k)' is longer than \(maxLength) characters", field: k)
        }
        return s
    }

    func int(_ k: String, in range: ClosedRange<Int>) throws -> Int? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite, n.doubleValue == n.doubleValue.rounded() else {
            throw APIError(.badRequest, .badType, "'\(k)' must be an integer", field: k)
        }
        // Compared as a double (intValue wraps or traps past Int's range); echoed as sent.
        let d = n.doubleValue
        guard d >= Double(range.lowerBound), d <= Double(range.upperBound), let i = Int(exactly: d), range.contains(i) else {
            throw APIError(.badRequest, .outOfRange, "'\(k)' must be between \(range.lowerBound) and \(range.upperBound), got \(n)", field: k)
        }
        return i
    }

    func bool(_ k: String) throws -> Bool? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, JSONBody.isBool(n) else { throw APIError(.badRequest, .badType, "'\(k)' must be true or false", field: k) }
        return n.boolValue
    }

    func floats(_ k: String) throws -> [Float]? {
        guard has(k) else { return nil }
        guard let a = object[k] as? [Any] else { throw APIError(.badRequest, .badType, "'\(k)' must be an array of numbers", field: k) }
        return try a.map {
            guard let n = $0 as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite else {
                throw APIError(.badRequest, .badType, "'\(k)' must hold only finite numbers", field: k)
            }
            return n.floatValue
        }
    }

    static func isBool(_ n: NSNumber) -> Bool { isJSONBool(n) }
}

/// The seed's structured `filters` object, turned into the filter grammar so that one parser
/// and one set of checks serve both forms:
/// `{"family": "floral", "seasons": ["spring", "summer"], "year": {"gte": 2000}, "notes.base": "vanilla"}`.
enum FilterObject {
    /// The seed's names for fields that are named otherwise here.
    static let aliases = ["fragrance_family": "family", "season": "seasons", "accord": "accords", "note": "notes"]

    static func expression(_ object: [String: Any], schema: CollectionSchema) throws -> String? {
        var parts: [String] = []
        for key in object.keys.sorted() {
            let name = aliases[key] ?? key
            let base = String(name.split(separator: ".").first ?? "")
            guard let field = schema.field(base) else {
                throw APIError(.badRequest, .badFilter, "unknown filter field '\(key)' (fields: \(schema.fields.filter { $0.type != .text }.map(\.name).joined(separator: ", ")))", field: "filters.\(key)")
            }
            let isSet = field.type == .set || field.type == .tieredSet
            let value = object[key]!
            func literal(_ v: Any) throws -> String {
                if let s = v as? String { return "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
                if let n = v as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite { return n.stringValue }
                throw APIError(.badRequest, .badFilter, "filter '\(key)' takes strings or numbers", field: "filters.\(key)")
            }
            switch value {
            case let list as [Any]:
                guard !list.isEmpty else { throw APIError(.badRequest, .badFilter, "filter '\(key)' has an empty list", field: "filters.\(key)") }
                let items = try list.map(literal).joined(separator: ", ")
                parts.append(isSet ? "\(name) CONTAINS ANY (\(items))" : "\(name) IN (\(items))")
            case let ops as [String: Any]:
                for op in ops.keys.sorted() {
                    let v = ops[op]!
                    let symbol = ["eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="][op]
                    if let symbol, !isSet {
                        parts.append("\(name) \(symbol) \(try literal(v))")
                    } else if (op == "any" || op == "all" || op == "in"), let list = v as? [Any], !list.isEmpty {
                        let items = try list.map(literal).joined(separator: ", ")
                        parts.append(isSet ? "\(name) CONTAINS \(op == "all" ? "ALL" : "ANY") (\(items))" : "\(name) IN (\(items))")
                    } else if op == "not", isSet {
                        parts.append("NOT \(name) CONTAINS \(try literal(v))")
                    } else {
                        throw APIError(.badRequest, .badFilter, "filter '\(key)': operator '\(op)' does not apply (use eq, ne, gt, gte, lt, lte, in for scalars; any, all, not for sets)", field: "filters.\(key).\(op)")
                    }
                }
            default:
                parts.append(isSet ? "\(name) CONTAINS \(try literal(value))" : "\(name) = \(try literal(value))")
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: " AND ")
    }
}
