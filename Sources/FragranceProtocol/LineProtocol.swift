/// The line protocol's words and replies (schemas/protocol.md), shared by server and client.
/// No I/O here: a request line in, tokens out; a reply value in, reply lines out.

public enum Token: Equatable, Sendable {
    /// A bare word (command names and keywords compare case-insensitively).
    case word(String)
    /// A '…' or "…" string, escapes resolved.
    case quoted(String)
    /// The rest of the line from the first `{` or `[` at a token start: a JSON value.
    case json(String)

    public var text: String {
        switch self {
        case .word(let s), .quoted(let s), .json(let s): return s
        }
    }
}

public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code) \(message)" }
}

public enum LineTokenizer {
    /// Splits one request line (without its line ending) into tokens.
    public static func tokenize(_ line: String) throws -> [Token] {
        var tokens: [Token] = []
        let chars = Array(line.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" { i += 1; continue }
            if c == "{" || c == "[" {
                tokens.append(.json(String(String.UnicodeScalarView(chars[i...]))))
                break
            }
            if c == "\"" || c == "'" {
                var s = String.UnicodeScalarView()
                var j = i + 1
                var closed = false
                while j < chars.count {
                    if chars[j] == "\\" && j + 1 < chars.count {
                        switch chars[j + 1] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        default: s.append(chars[j + 1])
                        }
                        j += 2
                        continue
                    }
                    if chars[j] == c { closed = true; break }
                    s.append(chars[j])
                    j += 1
                }
                guard closed else { throw ProtocolError("SYNTAX", "unterminated string starting at column \(i + 1)") }
                tokens.append(.quoted(String(s)))
                i = j + 1
                continue
            }
            var j = i
            while j < chars.count && chars[j] != " " && chars[j] != "\t" { j += 1 }
            tokens.append(.word(String(String.UnicodeScalarView(chars[i..<j]))))
            i = j
        }
        return tokens
    }
}

/// A reply: a status line, optionally followed by a counted block of JSON lines.
public enum Reply: Equatable, Sendable {
    /// `+OK [text]`
    case ok(String?)
    /// `*N` then N lines, each one JSON value.
    case lines([String])
    /// `-ERR CODE message`
    case error(code: String, message: String)

    public var encoded: String {
        switch self {
        case .ok(let text): return text.map { "+OK \($0)\r\n" } ?? "+OK\r\n"
        case .lines(let lines): return "*\(lines.count)\r\n" + lines.map { $0 + "\r\n" }.joined()
        case .error(let code, let message):
            let oneLine = message.replacingNewlines()
            return "-ERR \(code) \(oneLine)\r\n"
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 }))
    }
}
