import Foundation
import FragranceProtocol

/// Lifts `"vector": [n, n, …]` out of JSON text before the rest is parsed: the rows of a
/// JSON Lines import (one object) and the records of an UPSERT (one object or an array of
/// them). Through JSONSerialization each of a 384-d vector's numbers becomes an NSNumber and is
/// cast back: a quarter of an import's CPU, half of the server's on UPSERT (perf). Here they go
/// straight from text to Float by the same double-then-float rounding. Anything unusual (an
/// escaped key, a non-number, a nested array, a second vector key) leaves the text to the
/// general parser.
package enum VectorScanner {
    /// The text with each lifted array replaced by `null`, and the vectors by object: 0 for a
    /// single object, the element's position among the array's objects for a list. nil when
    /// nothing was lifted or the text is unusual.
    package static func lift(_ json: Data) -> (rest: Data, vectors: [Int: [Float]])? {
        json.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> (Data, [Int: [Float]])? in
            guard let first = b.firstIndex(where: { !isSpace($0) }) else { return nil }
            let objectDepth = b[first] == UInt8(ascii: "[") ? 2 : 1
            guard let arrays = vectorArrays(b, objectDepth: objectDepth), !arrays.isEmpty else { return nil }
            var vectors: [Int: [Float]] = [:]
            var rest = Data(capacity: b.count)
            var from = 0
            let base = b.baseAddress!.assumingMemoryBound(to: UInt8.self)
            for (object, start, end) in arrays {
                guard let values = numbers(b, from: start + 1, to: end) else { return nil }
                vectors[object] = values
                rest.append(base + from, count: start - from)
                rest.append(contentsOf: Array("null".utf8))
                from = end + 1
            }
            rest.append(base + from, count: b.count - from)
            return (rest, vectors)
        }
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    /// For each object at `objectDepth` with a "vector" key: its ordinal and the offsets of
    /// the value's `[` and `]`.
    private static func vectorArrays(_ b: UnsafeRawBufferPointer, objectDepth: Int) -> [(Int, Int, Int)]? {
        let key = Array("\"vector\"".utf8)
        var depth = 0, i = 0, object = -1
        var found: [(Int, Int, Int)] = []
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = i
                i += 1
                while i < b.count && b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                guard i < b.count else { return nil }
                if depth == objectDepth, i - s + 1 == key.count, (0..<key.count).allSatisfy({ b[s + $0] == key[$0] }) {
                    var j = i + 1
                    while j < b.count, isSpace(b[j]) { j += 1 }
                    guard j < b.count, b[j] == UInt8(ascii: ":") else { i += 1; continue }
                    j += 1
                    while j < b.count, isSpace(b[j]) { j += 1 }
                    guard j < b.count, b[j] == UInt8(ascii: "[") else { i += 1; continue }   // null or bad: the parser's
                    guard found.last?.0 != object else { return nil }
                    guard let close = (j..<b.count).first(where: { b[$0] == UInt8(ascii: "]") }) else { return nil }
                    found.append((object, j, close))
                    i = close + 1
                    continue
                }
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                if c == UInt8(ascii: "{") && depth == objectDepth - 1 { object += 1 }
                depth += 1
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
            }
            i += 1
        }
        return found
    }

    @inline(__always) private static func digitsValue(_ b: UnsafeRawBufferPointer, _ i: inout Int, _ to: Int, _ value: inout Int) -> Int {
        let d = i
        while i < to, b[i] >= 0x30 && b[i] <= 0x39 {
            if value < 100_000 { value = value * 10 + Int(b[i] - 0x30) }
            i += 1
        }
        return i - d
    }

    /// Comma-separated JSON numbers in b[from..<to]; nil at anything else.
    private static func numbers(_ b: UnsafeRawBufferPointer, from: Int, to: Int) -> [Float]? {
        var out: [Float] = []
        out.reserveCapacity((to - from) / 8)
        var i = from
        var token = [CChar](repeating: 0, count: 64)
        func skipSpace() { while i < to, isSpace(b[i]) { i += 1 } }
        skipSpace()
        if i == to { return out }
        while true {
            skipSpace()
            let s = i
            // JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            // The digits also accumulate into an integer and a power of ten, for the fast path.
            var mantissa: UInt64 = 0, significant = 0, scale = 0
            func digits(fraction: Bool) -> Int {
                let d = i
                while i < to, b[i] >= 0x30 && b[i] <= 0x39 {
                    if significant < 19 {
                        mantissa = mantissa &* 10 &+ UInt64(b[i] &- 0x30)
                        if mantissa != 0 { significant += 1 }
                        if fraction { scale -= 1 }
                    } else if !fraction {
                        scale += 1
                    }
                    i += 1
                }
                return i - d
            }
            let negative = i < to && b[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            let intStart = i
            guard digits(fraction: false) > 0, b[intStart] != 0x30 || i - intStart == 1 else { return nil }
            if i < to, b[i] == UInt8(ascii: ".") { i += 1; guard digits(fraction: true) > 0 else { return nil } }
            var exponent = 0, exponentOK = true
            if i < to, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                var sign = 1
                if i < to, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { sign = b[i] == UInt8(ascii: "-") ? -1 : 1; i += 1 }
                let e = i
                guard Self.digitsValue(b, &i, to, &exponent) > 0 else { return nil }
                exponentOK = i - e <= 4
                exponent *= sign
            }
            let d: Double
            if let fast = exponentOK ? ClingerFastPath.exactly(mantissa, significant: significant, power: scale + exponent) : nil {
                d = negative ? -fast : fast
            } else {
                guard i - s < token.count else { return nil }
                for k in 0..<(i - s) { token[k] = CChar(bitPattern: b[s + k]) }
                token[i - s] = 0
                d = strtod(token, nil)
            }
            guard d.isFinite else { return nil }
            out.append(Float(d))
            skipSpace()
            if i == to { return out }
            guard b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
    }
}
