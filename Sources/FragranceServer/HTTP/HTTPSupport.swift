import FragranceCore
import FragranceProtocol
import FragranceStore
import Perfumery
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
/// as the line protocol's `-ERR` replies and the status each code carries (`ErrorCode.httpStatus`).
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var field: String?
    public var headers: HTTPFields = [:]

    public init(_ code: ErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    init(_ e: ProtocolError) { self.init(e.code, e.message, field: e.field) }

    public var status: HTTPResponse.Status { HTTPResponse.Status(code: code.httpStatus) }
    public var description: String { "\(status.code) \(code.rawValue) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    struct Body: Encodable {
        struct Detail: Encodable { var code: String, message: String, field: String? }
        var error: Detail
    }

    func response() -> Response {
        var r = JSONReply(Body(error: .init(code: code.rawValue, message: message, field: field)), status: status).response()
        for h in headers { r.headers.append(h) }
        return r
    }

    /// Maps any error the service or Hummingbird throws to an API error.
    static func from(_ error: Error, service: FragranceService) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as HTTPError:
            let code: ErrorCode = switch e.status {
            case .notFound: .notFound
            case .contentTooLarge: .tooLarge
            case .methodNotAllowed: .methodNotAllowed
            case .requestTimeout: .timeout
            default: e.status.code >= 500 ? .internalError : .badRequest
            }
            return APIError(code, e.body ?? (e.status == .notFound ? "no such route; see /docs" : e.status.reasonPhrase))
        default:
            return APIError(service.failure(error))
        }
    }
}

/// A JSON response from one of the service's typed replies (`ReplyJSON`: sorted keys).
struct JSONReply<Value: Encodable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    init(_ value: Value, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    func response() -> Response {
        let buffer = ByteBuffer(bytes: ReplyJSON.bytes(value))
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
        guard buffer.readableBytes > 0 else { throw APIError(.badJSON, "the request needs a JSON object body") }
        let value: Any
        do { value = try StrictJSON.parse(Data(buffer.readableBytesView)) }
        catch let e as ProtocolError { throw APIError(.badJSON, "the body is \(e.message)") }
        guard let o = value as? [String: Any] else { throw APIError(.badJSON, "the body must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(allowed))) (known: \(allowed.sorted().joined(separator: ", ")))", field: unknown)
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
            if required { throw APIError(.missingField, "'\(k)' is required", field: k) }
            return nil
        }
        guard let s = object[k] as? String else { throw APIError(.badType, "'\(k)' must be a string", field: k) }
        if required && s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw APIError(.badValue, "'\(k)' must not be empty", field: k)
        }
        // The same code and status as the line protocol's TOO_LARGE for over-long query text.
        guard s.utf8.count <= maxLength * 4, s.count <= maxLength else {
            throw APIError(.tooLarge, "'\(k)' is longer than \(maxLength) characters", field: k)
        }
        return s
    }

    func int(_ k: String, in range: ClosedRange<Int>) throws -> Int? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite, n.doubleValue == n.doubleValue.rounded() else {
            throw APIError(.badType, "'\(k)' must be an integer", field: k)
        }
        // Compared as a double (intValue wraps or traps past Int's range); echoed as sent.
        let d = n.doubleValue
        guard d >= Double(range.lowerBound), d <= Double(range.upperBound), let i = Int(exactly: d), range.contains(i) else {
            throw APIError(.outOfRange, "'\(k)' must be between \(range.lowerBound) and \(range.upperBound), got \(n)", field: k)
        }
        return i
    }

    /// Any integer; the service checks the range (so limits read the same on both protocols).
    func int(_ k: String) throws -> Int? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite, n.doubleValue == n.doubleValue.rounded() else {
            throw APIError(.badType, "'\(k)' must be an integer", field: k)
        }
        // intValue wraps or traps past Int's range: such a number is refused as sent.
        guard abs(n.doubleValue) < 9e18, let i = Int(exactly: n.doubleValue) else {
            throw APIError(.outOfRange, "'\(k)' is out of range, got \(n)", field: k)
        }
        return i
    }

    /// `filters` (object or string) and `filter` (string), for the service to AND.
    func filterInput() throws -> FilterInput {
        var input = FilterInput()
        if has("filters") {
            if let s = object["filters"] as? String { input.text = s }
            else if let o = object["filters"] as? [String: Any] { input.object = try FilterObject(json: o) }
            else { throw APIError(.badType, "'filters' must be an object ({\"family\": \"floral\"}) or a filter string", field: "filters") }
        }
        if let s = try string("filter"), !s.trimmingCharacters(in: .whitespaces).isEmpty { input.text = input.text.map { "(\($0)) AND (\(s))" } ?? s }
        return input
    }

    func bool(_ k: String) throws -> Bool? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, JSONBody.isBool(n) else { throw APIError(.badType, "'\(k)' must be true or false", field: k) }
        return n.boolValue
    }

    /// A vector: an array of finite numbers, or the binary form ("b64:…").
    func floats(_ k: String) throws -> [Float]? {
        guard has(k) else { return nil }
        if let packed = try Self.binary(object[k], field: k) { return packed }
        guard let a = object[k] as? [Any] else {
            throw APIError(.badType, "'\(k)' must be an array of numbers or \"b64:<base64 of little-endian float32>\"", field: k)
        }
        return try Self.numbers(a, field: k)
    }

    /// MSEARCH's queries: a list of vectors, or all of them packed in one binary vector.
    func vectors(_ k: String) throws -> MultiSearchInput.Vectors {
        guard has(k) else { throw APIError(.missingField, "'\(k)' is required", field: k) }
        if let packed = try Self.binary(object[k], field: k) { return .packed(packed) }
        guard let list = object[k] as? [Any] else {
            throw APIError(.badType, "'\(k)' must be a list of vectors or \"b64:<base64 of the queries' float32>\"", field: k)
        }
        return .lists(try list.enumerated().map { i, v in
            guard let a = v as? [Any] else { throw APIError(.badType, "'\(k)' must hold arrays of numbers", field: "\(k)[\(i)]") }
            return try Self.numbers(a, field: "\(k)[\(i)]")
        })
    }

    /// The binary vector form's components; nil when `value` is not a "b64:" string.
    private static func binary(_ value: Any?, field: String) throws -> [Float]? {
        guard let text = value as? String, let binary = BinaryVector.decode(text) else { return nil }
        switch binary {
        case .success(let f): return f
        case .failure(let why): throw APIError(.badValue, "'\(field)' b64:…: \(why)", field: field)
        }
    }

    private static func numbers(_ a: [Any], field: String) throws -> [Float] {
        try a.map {
            guard let n = $0 as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite else {
                throw APIError(.badType, "'\(field)' must hold only finite numbers", field: field)
            }
            return n.floatValue
        }
    }

    /// A required, non-empty list of strings (ids).
    func strings(_ k: String) throws -> [String] {
        guard has(k) else { throw APIError(.missingField, "'\(k)' is required", field: k) }
        guard let list = object[k] as? [Any], !list.isEmpty, list.allSatisfy({ $0 is String }) else {
            throw APIError(.badType, "'\(k)' must be a non-empty list of strings", field: k)
        }
        return list.map { $0 as! String }
    }

    func double(_ k: String) throws -> Double? {
        guard has(k) else { return nil }
        guard let n = object[k] as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite else {
            throw APIError(.badType, "'\(k)' must be a number", field: k)
        }
        return n.doubleValue
    }

    /// An optional list of strings (field names).
    func stringList(_ k: String) throws -> [String]? {
        guard has(k) else { return nil }
        guard let list = object[k] as? [Any], list.allSatisfy({ $0 is String }) else {
            throw APIError(.badType, "'\(k)' must be a list of strings", field: k)
        }
        return list.map { $0 as! String }
    }

    /// The paging keys SEARCH and QUERY share: offset, score_threshold, max_distance, fields,
    /// facets, facet_size.
    static let pagingKeys: Set<String> = ["offset", "score_threshold", "max_distance", "fields", "facets", "facet_size"]

    func paging() throws -> SearchPaging {
        var p = SearchPaging()
        p.offset = try int("offset") ?? 0
        p.scoreThreshold = try double("score_threshold")
        p.maxDistance = try double("max_distance")
        p.fields = try stringList("fields")
        p.facets = try stringList("facets") ?? []
        p.facetSize = try int("facet_size") ?? 10
        return p
    }

    static func isBool(_ n: NSNumber) -> Bool { isJSONBool(n) }
}

extension FilterObject {
    /// The `filters` object of a request body, typed; value errors name `filters.<key>`.
    init(json object: [String: Any]) throws {
        func literal(_ v: Any, _ key: String) throws -> Literal {
            if let s = v as? String { return .string(s) }
            if let n = v as? NSNumber, isJSONBool(n) { return .number(n.boolValue ? "true" : "false") }   // the grammar's true/false
            if let n = v as? NSNumber, n.doubleValue.isFinite { return .number(n.stringValue) }
            throw APIError(.badFilter, "filter '\(key)' takes strings, numbers or true/false", field: "filters.\(key)")
        }
        var clauses: [(key: String, condition: Condition)] = []
        for key in object.keys.sorted() {
            switch object[key]! {
            case let list as [Any]:
                clauses.append((key, .oneOf(try list.map { try literal($0, key) })))
            case let ops as [String: Any]:
                clauses.append((key, .operators(try ops.keys.sorted().map { op in
                    if let list = ops[op] as? [Any] { return (op, .list(try list.map { try literal($0, key) })) }
                    return (op, .literal(try literal(ops[op]!, key)))
                })))
            case let v:
                clauses.append((key, .equals(try literal(v, key))))
            }
        }
        self.init(clauses: clauses)
    }
}

/// A URL's query as HTML forms, browsers' URLSearchParams, Python's urlencode and curl
/// --data-urlencode write it (application/x-www-form-urlencoded): '+' is a space and keys are
/// percent-encoded too. Hummingbird's `queryParameters` decodes neither, so a filter sent as
/// `filter=family+%3D+%27floral%27` reached the grammar with its '+'s.
struct QueryForm: Sendable {
    private(set) var pairs: [(key: String, value: String)] = []

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.decode(kv[0]), kv.count > 1 ? Self.decode(kv[1]) : ""))
        }
    }

    private static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced   // a stray '%' is kept as sent
    }

    /// The first value of `key`.
    subscript(_ key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// An integer parameter, BAD_TYPE naming it when it is not one.
    func int64(_ key: String) throws -> Int64? {
        guard let v = self[key] else { return nil }
        guard let n = Int64(v) else { throw APIError(.badType, "'\(key)' must be an integer, got '\(v.prefix(40))'", field: key) }
        return n
    }

    func int(_ key: String) throws -> Int? { try int64(key).map { Int(clamping: $0) } }
    var keys: [String] { pairs.map(\.key) }
}
