import FragranceProtocol
import Foundation

/// RFC 8259 JSON, checked before Foundation's parser sees client input. That parser accepts
/// trailing commas (`{"id": "t1",}`) and recurses once per nesting level, so a line of
/// 100,000 `[` could exhaust a thread's stack. This check is one iterative pass over the
/// bytes with a depth cap; it does not build anything.
public enum StrictJSON {
    /// Containers nested deeper than this are refused (records nest 2-3 levels).
    public static let maxDepth = 64

    /// nil when `bytes` hold exactly one JSON value (with surrounding whitespace); otherwise
    /// what is wrong, with its 1-based byte position.
    public static func problem(_ b: UnsafeRawBufferPointer, maxDepth: Int = maxDepth) -> String? {
        var p = Parser(b: b)
        return p.run(maxDepth: maxDepth)
    }

    /// Client JSON, checked and then parsed by Foundation; `BAD_JSON` saying what is wrong.
    public static func parse(_ data: Data) throws -> Any {
        if let p = data.withUnsafeBytes({ problem($0) }) { throw ProtocolError(.badJSON, "not valid JSON: \(p)") }
        do { return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }
        catch { throw ProtocolError(.badJSON, "not valid JSON (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "unreadable"))") }
    }

    public static func problem(_ text: String, maxDepth: Int = maxDepth) -> String? {
        var text = text
        return text.withUTF8 { problem(UnsafeRawBufferPointer($0), maxDepth: maxDepth) }
    }

    private struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0

        init(b: UnsafeRawBufferPointer) { self.b = b }

        mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }
        func at(_ what: String) -> String { "\(what) at byte \(i + 1)" }

        mutating func run(maxDepth: Int) -> String? {
            var stack: [UInt8] = []   // open containers: '{' or '['
            var wantValue = true
            while true {
                ws()
                if wantValue {
                    guard i < b.count else { return at("unexpected end of input") }
                    let c = b[i]
                    if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                        guard stack.count < maxDepth else { return at("nesting deeper than \(maxDepth) levels") }
                        stack.append(c)
                        i += 1
                        ws()
                        if i < b.count, b[i] == (c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                            i += 1
                            stack.removeLast()
                            wantValue = false
                        } else if c == UInt8(ascii: "{"), let e = key() {
                            return e
                        }
                        continue
                    }
                    if let e = scalar() { return e }
                    wantValue = false
                    continue
                }
                guard let top = stack.last else { return i == b.count ? nil : at("text after the JSON value") }
                guard i < b.count else { return at("unexpected end of input (unclosed \(top == UInt8(ascii: "{") ? "object" : "array"))") }
                let close = top == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if b[i] == close {
                    i += 1
                    stack.removeLast()
                } else if b[i] == UInt8(ascii: ",") {
                    i += 1
                    ws()
                    if i < b.count, b[i] == close { return at("trailing comma before '\(Character(UnicodeScalar(close)))'") }
                    if top == UInt8(ascii: "{"), let e = key() { return e }
                    wantValue = true
                } else {
                    return at("expected ',' or '\(Character(UnicodeScalar(close)))'")
                }
            }
        }

        /// `"name" :` inside an object.
        mutating func key() -> String? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return at("expected a quoted field name") }
            if let e = string() { return e }
            ws()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return at("expected ':' after a field name") }
            i += 1
            return nil
        }

        mutating func scalar() -> String? {
            switch b[i] {
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return at("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) -> String? {
            let n = word.utf8CodeUnitCount
            guard i + n <= b.count, (0..<n).allSatisfy({ b[i + $0] == word.utf8Start[$0] }) else { return at("unexpected word (true, false or null?)") }
            i += n
            return nil
        }

        mutating func digits() -> Bool {
            let s = i
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
            return i > s
        }

        mutating func number() -> String? {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { return at("number without digits") }
            if b[i] == UInt8(ascii: "0") { i += 1 } else if !digits() { return at("number without digits") }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() else { return at("no digits after the decimal point") }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() else { return at("no digits in the exponent") }
            }
            return nil
        }

        mutating func string() -> String? {
            i += 1   // the opening quote
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return nil }
                if c < 0x20 { return at("unescaped control character in a string") }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < b.count else { break }
                    switch b[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 1
                    case UInt8(ascii: "u"):
                        guard i + 4 < b.count, (1...4).allSatisfy({ isHex(b[i + $0]) }) else { return at("bad \\u escape") }
                        i += 5
                    default: return at("bad escape")
                    }
                    continue
                }
                i += 1
            }
            return at("unterminated string")
        }

        func isHex(_ c: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
        }
    }
}
