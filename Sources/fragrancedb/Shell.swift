import ArgumentParser
import FragranceClient
import FragranceProtocol
import Foundation

/// The admin shell: one protocol command per line. On a terminal, replies are aligned tables
/// (widths in terminal columns; rows with long or nested values shown expanded, whole) with
/// timings, and the prompt has persistent history, Ctrl-R search and completion that follows
/// the collections. Elsewhere (a pipe, a file) the output is plain: each reply as the server
/// sent it, without padding or timings; `--json` and `--raw` choose a form explicitly.
/// Commands come from the prompt, --eval or standard input; the exit code is non-zero if any
/// command failed.
struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Admin shell over the line protocol.")
    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7700
    @Option(help: "API key or JWT, sent with AUTH on connect (default: $FRAGRANCEDB_TOKEN).") var token: String?
    @Option(name: .long, help: "Run these commands (separated by ';' or newlines outside double quotes) and exit.") var eval: String?
    @Option(help: "table (default on a terminal), plain (default otherwise: replies as sent), json (one JSON document per reply) or raw (the wire form).")
    var output: OutputMode?
    @Flag(help: "Same as --output json.") var json = false
    @Flag(help: "Same as --output raw.") var raw = false

    enum OutputMode: String, ExpressibleByArgument, CaseIterable { case table, plain, json, raw }

    var mode: OutputMode { output ?? (json ? .json : raw ? .raw : Terminal.isTerminal ? .table : .plain) }

    func validate() throws {
        if [output != nil, json, raw].filter({ $0 }).count > 1 { throw ValidationError("give one of --output, --json and --raw") }
    }

    func run() async throws {
        let client = FragranceClient(host: host, port: port, connections: 1, timeout: .seconds(120),
                                     token: token ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_TOKEN"])
        defer { Task { await client.close() } }
        var failed = false
        if let eval {
            for line in Self.split(eval) {
                if try await execute(line, client) == false { failed = true }
            }
        } else if isatty(STDIN_FILENO) != 0 {
            try await interactive(client)
        } else {
            while let line = readLine() {
                if try await execute(line, client) == false { failed = true }
            }
        }
        await client.close()
        if failed { throw ExitCode(1) }
    }

    /// Commands of an --eval string: split at ';' and line breaks outside double quotes (a
    /// backslash escapes the next character inside them), so JSON and quoted filters keep theirs.
    static func split(_ script: String) -> [String] {
        var commands: [String] = [], current = ""
        var quoted = false, escaped = false
        for ch in script {
            if escaped { escaped = false; current.append(ch); continue }
            if quoted && ch == "\\" { escaped = true; current.append(ch); continue }
            if ch == "\"" { quoted.toggle() }
            if !quoted && (ch == ";" || ch == "\n" || ch == "\r") {
                commands.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        commands.append(current)
        return commands.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func interactive(_ client: FragranceClient) async throws {
        print("fragrancedb shell — connected to \(host):\(port). \\help for commands, \\q to quit, Ctrl-R searches history.")
        let commands = CommandTable.all.map(\.name) + ["\\help", "\\q"]
        let keywords = Array(Set(CommandTable.all.flatMap(\.keywords))).sorted() + CommandTable.all.map(\.name)
        let collections = Completions()
        await collections.refresh(client)
        let editor = LineEditor(commands: commands, words: { keywords + collections.names }, historyFile: Self.historyFile)
        while let line = editor.read(prompt: "fragrancedb> ") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "\\q" || trimmed.uppercased() == "QUIT" { break }
            _ = try await execute(line, client)
            // The collections to complete change with these commands.
            let verb = trimmed.split(separator: " ").first.map { $0.uppercased() } ?? ""
            if ["CREATE", "DROP", "RESTORE"].contains(verb) { await collections.refresh(client) }
        }
    }

    /// $FRAGRANCEDB_HISTORY, else ~/.fragrancedb_history ("" turns it off).
    static var historyFile: URL? {
        let env = ProcessInfo.processInfo.environment
        if let path = env["FRAGRANCEDB_HISTORY"] { return path.isEmpty ? nil : URL(fileURLWithPath: path) }
        guard let home = env["HOME"], !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".fragrancedb_history")
    }

    /// Runs one line; false when the server answered an error or could not be reached.
    func execute(_ raw: String, _ client: FragranceClient) async throws -> Bool {
        var line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { return true }
        if line == "\\help" || line == "\\?" { line = "HELP" }
        let start = DispatchTime.now().uptimeNanoseconds
        let reply: Reply
        do {
            guard let r = try await client.pipeline([line]).first else { return false }
            reply = r
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return false
        }
        let ms = String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        let out = Self.render(reply, mode: mode, milliseconds: ms)
        if !out.stdout.isEmpty { print(out.stdout) }
        if !out.stderr.isEmpty { FileHandle.standardError.write(Data((out.stderr + "\n").utf8)) }
        if case .error = reply { return false }
        return true
    }

    /// A reply in an output mode: what goes to standard output and to standard error.
    static func render(_ reply: Reply, mode: OutputMode, milliseconds ms: String) -> (stdout: String, stderr: String) {
        switch (mode, reply) {
        case (.raw, _):
            return (reply.encoded.components(separatedBy: "\r\n").dropLast().joined(separator: "\n"), "")
        case (.json, .ok(let text)):
            return (ReplyText.json(["ok": text ?? "OK"]), "")
        case (.json, .lines(let rows)):
            let values = rows.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed])) ?? $0 }
            return (ReplyText.json(["rows": values]), "")
        case (.json, .error(let code, let message)):
            return (ReplyText.json(["error": ["code": code, "message": message]]), "")
        case (_, .error(let code, let message)):
            return ("", "error \(code): \(message)")
        case (.plain, .ok(let text)):
            return (text ?? "OK", "")
        case (.plain, .lines(let rows)):
            return (rows.joined(separator: "\n"), "")
        case (.table, .ok(let text)):
            return ("\(text ?? "OK")  (\(ms) ms)", "")
        case (.table, .lines(let rows)):
            let table = Table(jsonLines: rows).render(width: Terminal.columns)
            return ((table.isEmpty ? "" : table + "\n") + "(\(rows.count) row\(rows.count == 1 ? "" : "s"), \(ms) ms)", "")
        }
    }
}

/// The collection names completion offers, refreshed when they may have changed.
final class Completions: @unchecked Sendable {   // used from the shell's one task
    private(set) var names: [String] = []

    func refresh(_ client: FragranceClient) async {
        guard case .lines(let rows)? = try? await client.pipeline(["COLLECTIONS"]).first else { return }
        names = rows.compactMap { row in (try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any])?["name"] as? String }
    }
}

enum ReplyText {
    static func json(_ value: Any, pretty: Bool = false) -> String {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: options) else { return String(describing: value) }
        return String(decoding: data, as: UTF8.self)
    }
}

/// JSON lines as an aligned table: objects become rows under the union of their keys, other
/// values print as they are. Widths count terminal columns. When a row would not fit the
/// terminal, or holds an object or a long value, the rows are shown expanded instead (one
/// field a line, nested values as indented JSON), whole: nothing is cut.
struct Table {
    var columns: [String] = []
    var rows: [[Any?]] = []
    var plain: [String] = []

    init(jsonLines: [String]) {
        var objects: [[String: Any]] = []
        for line in jsonLines {
            let value = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            if let o = value as? [String: Any] {
                objects.append(o)
                for k in o.keys.sorted() where !columns.contains(k) { columns.append(k) }
            } else if let s = value as? String {
                plain.append(s)
            } else {
                plain.append(line)
            }
        }
        if let i = columns.firstIndex(of: "id") { columns.insert(columns.remove(at: i), at: 0) }
        rows = objects.map { o in columns.map { o[$0] } }
    }

    static func cell(_ v: Any?) -> String {
        switch v {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        case let v?: return ReplyText.json(v)
        }
    }

    func render(width: Int = 120) -> String {
        var out = plain
        guard !columns.isEmpty else { return out.joined(separator: "\n") }
        let cells = rows.map { $0.map(Self.cell) }
        let widths = columns.indices.map { c in cells.reduce(Terminal.width(columns[c])) { max($0, Terminal.width($1[c])) } }
        let nested = rows.contains { $0.contains { $0 is [String: Any] || ($0 as? [Any]).map { $0.contains { $0 is [String: Any] } } ?? false } }
        let total = widths.reduce(0, +) + 2 * max(0, widths.count - 1)
        if nested || total > width || widths.contains(where: { $0 > 60 }) {
            out += expanded()
        } else {
            func line(_ cells: [String]) -> String {
                var s = zip(cells, widths).map { Terminal.pad($0, to: $1) }.joined(separator: "  ")
                while s.last == " " { s.removeLast() }
                return s
            }
            out.append(line(columns))
            out.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            out += cells.map(line)
        }
        return out.joined(separator: "\n")
    }

    /// psql's \x: a header per row, then `field | value`, nested values as indented JSON.
    func expanded() -> [String] {
        let keyWidth = columns.map(Terminal.width).max() ?? 0
        var out: [String] = []
        for (i, row) in rows.enumerated() {
            out.append("-[ \(i + 1) ]" + String(repeating: "-", count: max(4, keyWidth)))
            for (c, value) in zip(columns, row) {
                guard let value, !(value is NSNull) else { continue }
                let text = value is [String: Any] || value is [Any] ? ReplyText.json(value, pretty: true) : Self.cell(value)
                for (n, part) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    out.append(Terminal.pad(n == 0 ? c : "", to: keyWidth) + " | " + part)
                }
            }
        }
        return out
    }
}
