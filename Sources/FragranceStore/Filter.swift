/// Filter expressions over attributes: the grammar of `schemas/filter.md`, shared by the TCP
/// protocol and the HTTP API. Parsing is schema-free; `FilterCompiler` binds to a schema.
public indirect enum FilterExpression: Sendable, Equatable {
    case and([FilterExpression])
    case or([FilterExpression])
    case not(FilterExpression)
    case predicate(FilterPredicate)
}

public struct FilterPredicate: Sendable, Equatable {
    public enum Op: String, Sendable {
        case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
        case `in` = "IN", between = "BETWEEN"
        case contains = "CONTAINS", containsAny = "CONTAINS ANY", containsAll = "CONTAINS ALL"
    }

    public var field: String
    /// `notes.top` → field "notes", tier "top".
    public var tier: String?
    public var op: Op
    public var values: [Literal]
    /// Where the field name starts (1-based), for error messages.
    public var position: Int
}

public enum Literal: Sendable, Equatable {
    case string(String)
    case number(Double)

    var text: String {
        switch self {
        case .string(let s): return "'\(s)'"
        case .number(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        }
    }
}

public enum FilterParser {
    /// Parses a filter; errors carry the 1-based character position and the offending token.
    public static func parse(_ text: String) throws -> FilterExpression {
        guard text.count <= 65536 else { throw StoreError(.badFilter, "filter is longer than 65536 characters") }
        var p = Parser(tokens: try tokenize(text))
        if p.peek.kind == .end { throw StoreError(.badFilter, "empty filter", position: 1) }
        let e = try p.orExpression(depth: 0)
        guard p.peek.kind == .end else { throw p.error("expected AND, OR or the end of the filter") }
        return e
    }

    struct Token {
        enum Kind: Equatable { case word, string, number, op, lparen, rparen, comma, dot, end }
        var kind: Kind
        var text: String
        var position: Int
        var upper: String { text.uppercased() }
        var display: String { kind == .end ? "the end of the filter" : kind == .string ? "string '\(text)'" : "'\(text)'" }
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i], pos = i + 1
            if c.isWhitespace { i += 1; continue }
            if c == "(" { tokens.append(Token(kind: .lparen, text: "(", position: pos)); i += 1; continue }
            if c == ")" { tokens.append(Token(kind: .rparen, text: ")", position: pos)); i += 1; continue }
            if c == "," { tokens.append(Token(kind: .comma, text: ",", position: pos)); i += 1; continue }
            if c == "." && !(i + 1 < chars.count && chars[i + 1].isASCII && chars[i + 1].isNumber) {
                tokens.append(Token(kind: .dot, text: ".", position: pos)); i += 1; continue
            }
            if c == "'" || c == "\"" {
                var s = "", j = i + 1, closed = false
                while j < chars.count {
                    if chars[j] == "\\" && j + 1 < chars.count { s.append(chars[j + 1]); j += 2; continue }
                    if chars[j] == c {
                        if j + 1 < chars.count && chars[j + 1] == c { s.append(c); j += 2; continue }  // '' escapes '
                        closed = true
                        break
                    }
                    s.append(chars[j]); j += 1
                }
                guard closed else { throw StoreError(.badFilter, "unterminated string starting at position \(pos)", position: pos) }
                tokens.append(Token(kind: .string, text: s, position: pos))
                i = j + 1
                continue
            }
            if "=!<>".contains(c) {
                let pair = i + 1 < chars.count ? String([c, chars[i + 1]]) : ""
                var op = ["<=", ">=", "!=", "==", "<>"].contains(pair) ? pair : String(c)
                guard op != "!" else { throw StoreError(.badFilter, "unexpected '!' at position \(pos) (did you mean '!='?)", position: pos) }
                i += op.count
                if op == "==" { op = "=" }
                if op == "<>" { op = "!=" }
                tokens.append(Token(kind: .op, text: op, position: pos))
                continue
            }
            if (c.isASCII && c.isNumber) || ((c == "-" || c == "+" || c == ".") && i + 1 < chars.count && (chars[i + 1].isASCII && (chars[i + 1].isNumber || chars[i + 1] == "."))) {
                var j = i + 1
                while j < chars.count, chars[j].isASCII, chars[j].isNumber || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                        || ((chars[j] == "-" || chars[j] == "+") && (chars[j - 1] == "e" || chars[j - 1] == "E")) { j += 1 }
                let s = String(chars[i..<j])
                guard Double(s) != nil else { throw StoreError(.badFilter, "bad number '\(s)' at position \(pos)", position: pos) }
                tokens.append(Token(kind: .number, text: s, position: pos))
                i = j
                continue
            }
            if c == "_" || (c.isLetter && c.isASCII) {
                var j = i + 1
                while j < chars.count, chars[j] == "_" || (chars[j].isASCII && (chars[j].isLetter || chars[j].isNumber)) { j += 1 }
                tokens.append(Token(kind: .word, text: String(chars[i..<j]), position: pos))
                i = j
                continue
            }
            throw StoreError(.badFilter, "unexpected character '\(c)' at position \(pos)", position: pos)
        }
        tokens.append(Token(kind: .end, text: "", position: chars.count + 1))
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var index = 0
        static let maxDepth = 64
        static let keywords: Set<String> = ["AND", "OR", "NOT", "IN", "BETWEEN", "CONTAINS", "ANY", "ALL"]

        var peek: Token { tokens[index] }
        mutating func next() -> Token { defer { index += 1 }; return tokens[index] }

        func error(_ expected: String, at t: Token? = nil) -> StoreError {
            let t = t ?? peek
            return StoreError(.badFilter, "\(expected), found \(t.display) at position \(t.position)", position: t.position)
        }

        func isKeyword(_ t: Token, _ k: String) -> Bool { t.kind == .word && t.upper == k }

        mutating func orExpression(depth: Int) throws -> FilterExpression {
            guard depth < Parser.maxDepth else { throw error("filter nests deeper than \(Parser.maxDepth) levels") }
            var parts = [try andExpression(depth: depth)]
            while isKeyword(peek, "OR") { _ = next(); parts.append(try andExpression(depth: depth)) }
            return parts.count == 1 ? parts[0] : .or(parts)
        }

        mutating func andExpression(depth: Int) throws -> FilterExpression {
            var parts = [try notExpression(depth: depth)]
            while isKeyword(peek, "AND") { _ = next(); parts.append(try notExpression(depth: depth)) }
            return parts.count == 1 ? parts[0] : .and(parts)
        }

        mutating func notExpression(depth: Int) throws -> FilterExpression {
            if isKeyword(peek, "NOT") {
                guard depth < Parser.maxDepth else { throw error("filter nests deeper than \(Parser.maxDepth) levels") }
                _ = next()
                return .not(try notExpression(depth: depth + 1))
            }
            if peek.kind == .lparen {
                _ = next()
                let e = try orExpression(depth: depth + 1)
                guard peek.kind == .rparen else { throw error("expected ')'") }
                _ = next()
                return e
            }
            return .predicate(try predicate())
        }

        mutating func predicate() throws -> FilterPredicate {
            let f = peek
            guard f.kind == .word, !Parser.keywords.contains(f.upper) else { throw error("expected a field name or '('") }
            _ = next()
            var tier: String?
            if peek.kind == .dot {
                _ = next()
                guard peek.kind == .word else { throw error("expected a tier name after '\(f.text).'") }
                tier = next().text
            }
            let opToken = peek
            var op: FilterPredicate.Op
            var values: [Literal]
            if opToken.kind == .op {
                _ = next()
                op = FilterPredicate.Op(rawValue: opToken.text)!
                values = [try literal(after: "'\(opToken.text)'")]
            } else if isKeyword(opToken, "IN") {
                _ = next()
                op = .in
                values = try list(after: "IN")
            } else if isKeyword(opToken, "BETWEEN") {
                _ = next()
                op = .between
                let lo = try literal(after: "BETWEEN")
                guard isKeyword(peek, "AND") else { throw error("expected AND in BETWEEN … AND …") }
                _ = next()
                values = [lo, try literal(after: "BETWEEN … AND")]
            } else if isKeyword(opToken, "CONTAINS") {
                _ = next()
                if isKeyword(peek, "ANY") || isKeyword(peek, "ALL") {
                    op = next().upper == "ANY" ? .containsAny : .containsAll
                    values = try list(after: op.rawValue)
                } else {
                    op = .contains
                    values = [try literal(after: "CONTAINS")]
                }
            } else {
                throw error("expected an operator (= != < <= > >= IN BETWEEN CONTAINS) after '\(f.text)'")
            }
            return FilterPredicate(field: f.text, tier: tier, op: op, values: values, position: f.position)
        }

        mutating func literal(after what: String) throws -> Literal {
            let t = peek
            switch t.kind {
            case .string: _ = next(); return .string(t.text)
            case .number: _ = next(); return .number(Double(t.text)!)
            // Booleans are stored as 1 and 0 (bool fields): true and false are those numbers.
            case .word where t.upper == "TRUE": _ = next(); return .number(1)
            case .word where t.upper == "FALSE": _ = next(); return .number(0)
            default: throw error("expected a value after \(what)")
            }
        }

        mutating func list(after what: String) throws -> [Literal] {
            guard peek.kind == .lparen else { throw error("expected '(' after \(what)") }
            _ = next()
            var out = [try literal(after: "'('")]
            while peek.kind == .comma {
                _ = next()
                out.append(try literal(after: "','"))
            }
            guard peek.kind == .rparen else { throw error("expected ',' or ')' in the list") }
            _ = next()
            guard out.count <= 10_000 else { throw error("a list holds at most 10000 values") }
            return out
        }
    }
}
