import Foundation

/// The keyword options that follow a command's arguments (COUNT, SEARCH, QUERY, SCROLL, FACETS):
/// `FILTER "<expression>"`, `K n`, `EF n`, `EXACT`, `EXPLAIN`, `MODE m`, `RAW`, `TEXT "…"`,
/// paging (`OFFSET n`, `SCORE_THRESHOLD x`, `MAX_DISTANCE x`, `RECORDS`, `FIELDS "a,b"`),
/// facets (`FACETS "family,year:10"`, `FACET_SIZE n`), browsing (`ORDER field[:desc]`,
/// `AFTER cursor`, `LIMIT n`) and `VECTOR [..]` (last on the line). Only the grammar: what the values may be (limits, modes)
/// is the server's to check, the same way for both protocols.
public struct SearchOptions: Sendable, Equatable {
    public var text: String?
    public var vector: [Float]?
    public var filter: String?
    public var k = 10
    public var ef: Int?
    public var exact = false
    public var explain = false
    public var mode: String?
    public var raw = false
    public var offset = 0
    public var scoreThreshold: Double?
    public var maxDistance: Double?
    /// Hits carry their records (implied by `fields`).
    public var records = false
    public var fields: [String]?
    public var facets: [String] = []
    public var facetSize = 10
    public var order: String?
    public var after: String?
    public var limit = 20
    /// QUERY: the quality prior's weight (0 turns it off) and whether near-duplicates collapse.
    public var prior: Double?
    public var collapse: Bool?
    /// QUERY: MMR's λ (DIVERSITY λ), nil off.
    public var diversity: Double?
    /// MSEARCH: the queries, as JSON arrays (`VECTORS [[..], [..]]`) or packed in one binary
    /// vector (`VECTORS b64:…`, every query's components one after another; the collection's
    /// dimension splits them).
    public var vectors: [[Float]]?
    public var packedVectors: [Float]?

    public init() {}

    public init(_ args: ArraySlice<Token>, allowed: Set<String>) throws {
        var it = args.makeIterator()
        while let t = it.next() {
            if case .json = t { throw ProtocolError(.syntax, "unexpected JSON; only VECTOR and VECTORS take JSON arrays") }
            let key = t.text.uppercased()
            guard allowed.contains(key) else {
                throw ProtocolError(.syntax, "unexpected '\(t.text)' (expected one of \(allowed.sorted().joined(separator: ", ")))")
            }
            func value() throws -> Token {
                guard let v = it.next() else { throw ProtocolError(.syntax, "\(key) needs a value") }
                return v
            }
            func number() throws -> Int {
                let v = try value()
                guard let n = Int(v.text) else { throw ProtocolError(.syntax, "\(key) needs an integer, got '\(v.text)'") }
                return n
            }
            func decimal() throws -> Double {
                let v = try value()
                guard let d = Double(v.text), d.isFinite else { throw ProtocolError(.syntax, "\(key) needs a number, got '\(v.text)'") }
                return d
            }
            func list() throws -> [String] {
                try value().text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            switch key {
            case "TEXT": text = try value().text
            case "OFFSET": offset = try number()
            case "SCORE_THRESHOLD": scoreThreshold = try decimal()
            case "MAX_DISTANCE": maxDistance = try decimal()
            case "RECORDS": records = true
            case "FIELDS": fields = try list()
            case "FACETS": facets = try list()
            case "FACET_SIZE": facetSize = try number()
            case "ORDER": order = try value().text
            case "AFTER": after = try value().text
            case "LIMIT": limit = try number()
            case "FILTER": filter = try value().text
            case "K": k = try number()
            case "EF": ef = try number()
            case "EXACT": exact = true
            case "EXPLAIN": explain = true
            case "MODE": mode = try value().text.lowercased()
            case "RAW": raw = true
            case "PRIOR": prior = try decimal()
            case "DIVERSITY": diversity = try decimal()
            case "COLLAPSE":
                switch try value().text.lowercased() {
                case "on", "true", "yes": collapse = true
                case "off", "false", "no": collapse = false
                case let other: throw ProtocolError(.badValue, "COLLAPSE must be on or off, got '\(other)'", field: "collapse")
                }
            case "VECTORS":
                switch try Self.vectorValue(try value(), field: "vectors", json: parseNumberArrays) {
                case .json(let lists): vectors = lists
                case .binary(let flat): packedVectors = flat
                case nil: throw ProtocolError(.syntax, "VECTORS needs a JSON array of arrays of numbers (last on the line) or b64:<base64 of the queries' float32 one after another>")
                }
            case "VECTOR":
                switch try Self.vectorValue(try value(), field: "vector", json: parseNumberArray) {
                case .json(let v), .binary(let v): vector = v
                case nil: throw ProtocolError(.syntax, "VECTOR needs a JSON array of numbers (last on the line) or b64:<base64 of little-endian float32>")
                }
            default: break
            }
        }
    }

    enum VectorValue<JSON> { case json(JSON), binary([Float]) }

    /// VECTOR's and VECTORS' value: JSON text read by `json`, or the binary form; nil for anything else.
    static func vectorValue<J>(_ token: Token, field: String, json: (String) throws -> J) throws -> VectorValue<J>? {
        if case .json(let text) = token { return .json(try json(text)) }
        switch BinaryVector.decode(token.text) {
        case .success(let f)?: return .binary(f)
        case .failure(let why)?: throw ProtocolError(.badValue, "'\(field)' b64:…: \(why)", field: field)
        case nil: return nil
        }
    }

    /// The options as words for a request line, in the order the grammar reads them (VECTOR
    /// last, as it takes the rest of the line). The client builds its lines with this.
    public func words(quote: (String) -> String) -> String {
        var parts: [String] = []
        if let text { parts.append("TEXT \(quote(text))") }
        if let mode { parts.append("MODE \(mode)") }
        if let filter { parts.append("FILTER \(quote(filter))") }
        if k != 10 { parts.append("K \(k)") }
        if let ef { parts.append("EF \(ef)") }
        if exact { parts.append("EXACT") }
        if raw { parts.append("RAW") }
        if explain { parts.append("EXPLAIN") }
        if offset != 0 { parts.append("OFFSET \(offset)") }
        if let scoreThreshold { parts.append("SCORE_THRESHOLD \(scoreThreshold)") }
        if let maxDistance { parts.append("MAX_DISTANCE \(maxDistance)") }
        if records { parts.append("RECORDS") }
        if let fields { parts.append("FIELDS \(quote(fields.joined(separator: ",")))") }
        if !facets.isEmpty { parts.append("FACETS \(quote(facets.joined(separator: ",")))") }
        if facetSize != 10 { parts.append("FACET_SIZE \(facetSize)") }
        if let order { parts.append("ORDER \(quote(order))") }
        if let after { parts.append("AFTER \(quote(after))") }
        if limit != 20 { parts.append("LIMIT \(limit)") }
        // The binary form: shorter, and read without parsing numbers.
        if let vector { parts.append("VECTOR " + BinaryVector.encode(vector)) }
        if let vectors { parts.append("VECTORS " + BinaryVector.encode(vectors.flatMap { $0 })) }
        return parts.joined(separator: " ")
    }
}

/// A JSON array of arrays of numbers (MSEARCH's VECTORS), each inner array read by `parseNumberArray`.
public func parseNumberArrays(_ text: String) throws -> [[Float]] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { throw ProtocolError(.syntax, "VECTORS needs a JSON array of arrays of numbers") }
    var out: [[Float]] = []
    var depth = 0, start: String.Index?
    for i in trimmed.indices.dropFirst().dropLast() {
        switch trimmed[i] {
        case "[":
            if depth == 0 { start = i }
            depth += 1
            guard depth == 1 else { throw ProtocolError(.syntax, "VECTORS holds arrays of numbers, not deeper arrays") }
        case "]":
            depth -= 1
            guard depth == 0, let s = start else { throw ProtocolError(.syntax, "VECTORS: unbalanced ']'") }
            out.append(try parseNumberArray(String(trimmed[s...i])))
            start = nil
        case ",", " ", "\t": continue
        default:
            if depth == 0 { throw ProtocolError(.syntax, "VECTORS holds arrays of numbers, got '\(trimmed[i])' between them") }
        }
    }
    guard depth == 0 else { throw ProtocolError(.syntax, "VECTORS: unbalanced '['") }
    return out
}

/// A JSON array of numbers, parsed in place with strtof (JSONSerialization, or a String per
/// number, cost more than the search itself: protocol-bench's "command layer" line).
public func parseNumberArray(_ text: String) throws -> [Float] {
    func bad(_ why: String) -> ProtocolError { ProtocolError(.syntax, "VECTOR needs a JSON array of finite numbers, last on the line (\(why))") }
    return try text.withCString { start -> [Float] in
        var p = start
        func skipSpace() { while p.pointee == 0x20 || p.pointee == 0x09 { p += 1 } }
        skipSpace()
        guard p.pointee == CChar(UInt8(ascii: "[")) else { throw bad("no '['") }
        p += 1
        var out: [Float] = []
        out.reserveCapacity(strlen(p) / 8)
        skipSpace()
        if p.pointee == CChar(UInt8(ascii: "]")) {
            p += 1
        } else {
            while true {
                skipSpace()
                // strtof also reads hex, "nan" and "inf": accept only what starts like a JSON number.
                let c = UInt8(bitPattern: p.pointee)
                guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                    throw bad("'\(String(cString: p).prefix(20))' is not a number")
                }
                if let (f, next) = fastDecimal(p) {
                    out.append(f)
                    p = next
                    skipSpace()
                    if p.pointee == CChar(UInt8(ascii: ",")) { p += 1; continue }
                    if p.pointee == CChar(UInt8(ascii: "]")) { p += 1; break }
                    throw bad("expected ',' or ']'")
                }
                var end: UnsafeMutablePointer<CChar>?
                let f = strtof(p, &end)
                guard let end, end != UnsafeMutablePointer(mutating: p), f.isFinite,
                      !UnsafeBufferPointer(start: p, count: end - UnsafeMutablePointer(mutating: p)).contains(where: { $0 == 0x78 || $0 == 0x58 })   // no hex
                else { throw bad("'\(String(cString: p).prefix(20))' is not a finite number") }
                out.append(f)
                p = UnsafePointer(end)
                skipSpace()
                if p.pointee == CChar(UInt8(ascii: ",")) { p += 1; continue }
                if p.pointee == CChar(UInt8(ascii: "]")) { p += 1; break }
                throw bad("expected ',' or ']'")
            }
        }
        skipSpace()
        guard p.pointee == 0 else { throw bad("text after ']'") }
        return out
    }
}

/// m·10^power when both m and 10^|power| are exact doubles: one correctly rounded multiply or
/// divide then gives what strtod gives (Clinger's fast path); nil otherwise. The one test both
/// number readers use: this file's for VECTOR text, FragranceCore's VectorScanner for records.
package enum ClingerFastPath {
    @inline(__always) package static func exactly(_ m: UInt64, significant: Int, power: Int) -> Double? {
        guard significant <= 15, power >= -22, power <= 22 else { return nil }
        return power < 0 ? Double(m) / powersOfTen[-power] : Double(m) * powersOfTen[power]
    }

    /// 16 to 19 significant digits (a float32 printed through a double has 17): the Double
    /// computed here is within a few of its ulps of the decimal, so when no Float midpoint lies
    /// that close, the Float nearest it is the decimal's nearest (strtof's answer); otherwise nil
    /// and strtof decides. JSON vectors from numpy or Python are all like this: strtof was a
    /// third of a JSON SEARCH's server time (perf, issue #23).
    package static func nearestFloat(_ m: UInt64, power: Int) -> Float? {
        guard power >= -44, power <= 22 else { return nil }
        var d = Double(m)   // correctly rounded
        if power >= 0 { d *= powersOfTen[power] } else if power >= -22 { d /= powersOfTen[-power] } else {
            d = d / powersOfTen[22] / powersOfTen[-power - 22]
        }
        guard d > 1e-37, d < 1e38 else { return nil }   // subnormal or overflowing Floats: strtof
        let f = Float(d), exact = Double(f)
        // At most three roundings of half an ulp each: 8 ulps is a wide margin.
        let margin = 8 * d.ulp
        guard abs(d - (exact + Double(f.nextUp)) / 2) > margin, abs(d - (exact + Double(f.nextDown)) / 2) > margin else { return nil }
        return f
    }

    private static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }
}

/// A JSON number read without strtof, when that gives the same Float: at most 15 significant
/// digits and a decimal exponent within ±22, so one correctly rounded multiplication or
/// division by an exact power of ten gives the Double nearest the decimal, then the Float
/// (`ClingerFastPath`); up to 19 digits when no Float midpoint is near (`nearestFloat`).
/// Anything else (more digits, a
/// larger exponent, a form JSON does not allow) returns nil and strtof reads it. A vector's
/// text was most of the command layer's cost: 384 strtof calls a query.
@inline(__always)
func fastDecimal(_ start: UnsafePointer<CChar>) -> (Float, UnsafePointer<CChar>)? {
    var p = start
    let negative = p.pointee == 0x2D
    if negative { p += 1 }
    var mantissa: UInt64 = 0, significant = 0, exponent = 0, integerDigits = 0
    @inline(__always) func digit(_ c: CChar) -> UInt64? { c >= 0x30 && c <= 0x39 ? UInt64(c - 0x30) : nil }
    while let d = digit(p.pointee) {
        if mantissa != 0 || d != 0 { significant += 1 }
        guard significant <= 19 else { return nil }
        mantissa = mantissa * 10 + d
        integerDigits += 1
        p += 1
    }
    guard integerDigits > 0 else { return nil }
    if p.pointee == 0x2E {   // '.'
        p += 1
        var fraction = 0
        while let d = digit(p.pointee) {
            if mantissa != 0 || d != 0 { significant += 1 }
            guard significant <= 19 else { return nil }
            mantissa = mantissa * 10 + d
            exponent -= 1
            fraction += 1
            p += 1
        }
        guard fraction > 0 else { return nil }
    }
    if p.pointee == 0x65 || p.pointee == 0x45 {   // 'e', 'E'
        p += 1
        var sign = 1
        if p.pointee == 0x2D { sign = -1; p += 1 } else if p.pointee == 0x2B { p += 1 }
        var e = 0, eDigits = 0
        while let d = digit(p.pointee) {
            e = e * 10 + Int(d)
            eDigits += 1
            guard e < 1000 else { return nil }
            p += 1
        }
        guard eDigits > 0 else { return nil }
        exponent += sign * e
    }
    if mantissa == 0 { return (negative ? -0.0 : 0.0, p) }
    let f: Float
    if let d = ClingerFastPath.exactly(mantissa, significant: significant, power: exponent) {
        f = Float(d)
    } else if let near = ClingerFastPath.nearestFloat(mantissa, power: exponent) {
        f = near
    } else {
        return nil
    }
    return (negative ? -f : f, p)
}
