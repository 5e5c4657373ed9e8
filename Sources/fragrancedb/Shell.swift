import ArgumentParser
import FragranceClient
import FragranceProtocol
import Foundation

/// The admin shell: one protocol command per line, replies as aligned tables with timings.
/// Interactive on a terminal (prompt, history, tab completion); otherwise it reads commands
/// from --eval or standard input and exits non-zero if any command failed.
struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Admin shell over the line protocol.")
    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7700
    @Option(help: "API key or JWT, sent with AUTH on connect (default: $FRAGRANCEDB_TOKEN).") var token: String?
    @Option(name: .long, help: "Run these commands (separated by ';' or newlines) and exit.") var eval: String?

    func run() async throws {
        let client = FragranceClient(host: host, port: port, connections: 1, timeout: .seconds(120),
                                     token: token ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_TOKEN"])
        defer { Task { await client.close() } }
        var failed = false
        if let eval {
            for line in eval.split(whereSeparator: { $0 == ";" || $0 == "\n" }) {
                if try await execute(String(line), client) == false { failed = true }
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

    func interactive(_ client: FragranceClient) async throws {
        print("fragrancedb shell — connected to \(host):\(port). \\help for commands, \\q to quit.")
        // Commands and keywords from the protocol's own table, then the collections.
        let commands = CommandTable.all.map(\.name) + ["\\help", "\\q"]
        var names = Array(Set(CommandTable.all.flatMap(\.keywords))).sorted() + CommandTable.all.map(\.name)
        if case .lines(let rows)? = try? await client.pipeline(["COLLECTIONS"]).first {
            names += rows.compactMap { row in
                (try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any])?["name"] as? String
            }
        }
        let editor = LineEditor(commands: commands, words: names)
        while let line = editor.read(prompt: "fragrancedb> ") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "\\q" || trimmed.uppercased() == "QUIT" { break }
            _ = try await execute(line, client)
        }
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
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        switch reply {
        case .ok(let text):
            print("\(text ?? "OK")  (\(String(format: "%.1f", ms)) ms)")
            return true
        case .error(let code, let message):
            FileHandle.standardError.write(Data("error \(code): \(message)\n".utf8))
            return false
        case .lines(let rows):
            print(Table(jsonLines: rows).render())
            print("(\(rows.count) row\(rows.count == 1 ? "" : "s"), \(String(format: "%.1f", ms)) ms)")
            return true
        }
    }
}

/// JSON lines as an aligned text table: objects become rows under the union of their keys,
/// other values print as they are.
struct Table {
    var columns: [String] = []
    var rows: [[String]] = []
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
        rows = objects.map { o in columns.map { Table.cell(o[$0]) } }
    }

    static func cell(_ v: Any?) -> String {
        switch v {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default:
            guard let v, let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) else { return "" }
            let s = String(decoding: data, as: UTF8.self)
            return s.count > 80 ? String(s.prefix(77)) + "..." : s
        }
    }

    func render() -> String {
        var out = plain
        if !columns.isEmpty {
            let widths = columns.indices.map { c in rows.reduce(columns[c].count) { max($0, $1[c].count) } }
            func line(_ cells: [String]) -> String {
                zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces)
            }
            out.append(line(columns))
            out.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            out += rows.map(line)
        }
        return out.joined(separator: "\n")
    }
}
