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

/// A refused request, on either protocol: the code, a message naming what was wrong, and
/// (HTTP bodies carry it) the request field at fault.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var field: String?
    public init(_ code: ErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }
    public var description: String { "\(code.rawValue) \(message)" }
}

public enum LineTokenizer {
    /// Splits one request line (without its line ending) into tokens. Works on UTF-8 bytes:
    /// every delimiter is ASCII, and no byte of a multi-byte sequence is.
    public static func tokenize(_ line: String) throws -> [Token] {
        var tokens: [Token] = []
        var line = line
        try line.withUTF8 { b in
            var i = 0
            while i < b.count {
                let c = b[i]
                if c == 0x20 || c == 0x09 { i += 1; continue }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    tokens.append(.json(String(decoding: UnsafeBufferPointer(rebasing: b[i...]), as: UTF8.self)))
                    return
                }
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    var s: [UInt8] = []
                    var j = i + 1
                    var closed = false
                    while j < b.count {
                        if b[j] == UInt8(ascii: "\\") && j + 1 < b.count {
                            switch b[j + 1] {
                            case UInt8(ascii: "n"): s.append(0x0A)
                            case UInt8(ascii: "t"): s.append(0x09)
                            default: s.append(b[j + 1])
                            }
                            j += 2
                            continue
                        }
                        if b[j] == c { closed = true; break }
                        s.append(b[j])
                        j += 1
                    }
                    guard closed else { throw ProtocolError(.syntax, "unterminated string starting at byte \(i + 1)") }
                    tokens.append(.quoted(String(decoding: s, as: UTF8.self)))
                    i = j + 1
                    continue
                }
                var j = i
                while j < b.count && b[j] != 0x20 && b[j] != 0x09 { j += 1 }
                tokens.append(.word(String(decoding: UnsafeBufferPointer(rebasing: b[i..<j]), as: UTF8.self)))
                i = j
            }
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

    /// `-ERR` with one of the server's codes (the case itself holds any code a reply carried).
    public static func error(_ code: ErrorCode, _ message: String) -> Reply { .error(code: code.rawValue, message: message) }

    public var encoded: String {
        switch self {
        case .ok(let text): return text.map { "+OK \($0.statusLineSafe())\r\n" } ?? "+OK\r\n"
        case .lines(let lines): return "*\(lines.count)\r\n" + lines.map { $0.statusLineSafe() + "\r\n" }.joined()
        case .error(let code, let message):
            return "-ERR \(code.statusLineSafe()) \(message.statusLineSafe())\r\n"
        }
    }
}

extension String {
    /// One line a client can trust: status texts often quote the request (an id, a token's
    /// subject), so CR and LF, which would end the line and let the rest pass for the next
    /// reply, become spaces, and other control characters (NUL, ESC …) are written as \uXXXX.
    public func statusLineSafe() -> String {
        guard utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return self }
        var out = String.UnicodeScalarView()
        for u in unicodeScalars {
            switch u.value {
            case 0x0A, 0x0D, 0x09: out.append(" ")
            case 0..<0x20, 0x7F: out.append(contentsOf: "\\u\(String(u.value, radix: 16).leftPadded(4))".unicodeScalars)
            default: out.append(u)
            }
        }
        return String(out)
    }

    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// Reply lines (without CRLF) back into `Reply`s, one line at a time: what `Reply.encoded`
/// writes, read back. The client (and anything else speaking the protocol) uses this.
public struct ReplyDecoder: Sendable {
    private var block: (remaining: Int, lines: [String])?
    public init() {}

    /// The reply `line` completes, nil while a `*N` block is still short of lines; a line that
    /// starts no reply is `PROTOCOL`.
    public mutating func feed(_ line: String) throws -> Reply? {
        if var b = block {
            b.lines.append(line)
            b.remaining -= 1
            if b.remaining == 0 {
                block = nil
                return .lines(b.lines)
            }
            block = b
            return nil
        }
        if line.hasPrefix("+OK") { return .ok(line.count > 3 ? String(line.dropFirst(4)) : nil) }
        if line.hasPrefix("-ERR ") {
            let rest = line.dropFirst(5)
            let code = rest.prefix { $0 != " " }
            return .error(code: String(code), message: String(rest.dropFirst(code.count + 1)))
        }
        if line.hasPrefix("*"), let n = Int(line.dropFirst()), n >= 0 {
            if n == 0 { return .lines([]) }
            block = (n, [])
            return nil
        }
        throw ProtocolError(.protocolViolation, "unexpected line \(line.prefix(80))")
    }
}

extension Token {
    /// An argument as a request line writes it: a double-quoted string with `\` and `"`
    /// escaped and line breaks as `\n` (the tokenizer reads it back as `.quoted`).
    public static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
