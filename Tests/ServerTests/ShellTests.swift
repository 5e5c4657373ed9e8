import Foundation
import Synchronization
import XCTest
import TestSupport
@testable import FragranceServer
@testable import FragranceStore

/// `fragrancedb shell` against a real server: scripted (--eval, stdin) and interactive
/// through a pseudo-terminal (`script` from util-linux provides the pty).
final class ShellTests: ServerTestCase {

    func binary() throws -> URL {
        guard let url = Repository.builtProduct("fragrancedb") else { throw XCTSkip("fragrancedb not built next to the tests") }
        return url
    }

    func run(_ executable: URL, _ args: [String], stdin: String) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        let input = Pipe(), output = Pipe(), error = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = error
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile(), err = error.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func testScriptedShellPrintsTablesAndFailsOnErrors() throws {
        let shell = try binary()
        let create = #"CREATE p {"dimension": 2, "schema": {"fields": [{"name": "family", "type": "string"}]}}"#
        let upsert = #"UPSERT p [{"id": "a", "vector": [1, 0], "family": "floral"}, {"id": "bb", "vector": [0, 1], "family": "woody"}]"#
        let ok = try run(shell, ["shell", "--port", "\(port)", "--output", "table", "--eval", "\(create); \(upsert); SEARCH p K 2 VECTOR [1, 0.1]"], stdin: "")
        XCTAssertEqual(ok.status, 0, ok.err)
        let lines = ok.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("created p") }, ok.out)
        let header = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("id ") }, ok.out)
        XCTAssertTrue(lines[header].contains("distance") && lines[header].contains("score"))
        XCTAssertTrue(lines[header + 2].hasPrefix("a "), ok.out)
        XCTAssertTrue(lines[header + 3].hasPrefix("bb"), ok.out)
        XCTAssertTrue(ok.out.contains("(2 rows, "), ok.out)

        let piped = try run(shell, ["shell", "--port", "\(port)"], stdin: "COUNT p\nFROB\nPING\n")
        XCTAssertEqual(piped.status, 1, "an error anywhere makes the exit code non-zero")
        XCTAssertEqual(piped.out.split(separator: "\n").first, "2", "not a terminal: plain, no timings: \(piped.out)")
        XCTAssertTrue(piped.out.contains("PONG"), piped.out)
        XCTAssertTrue(piped.err.contains("error UNKNOWN_COMMAND"), piped.err)

        let down = try run(shell, ["shell", "--port", "1", "--eval", "PING"], stdin: "")
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("error:"), down.err)
    }

    func testInteractiveShellThroughAPseudoTerminal() throws {
        let shell = try binary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("util-linux script is missing") }
        let dir = temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Keys: "PIN" + Tab (completes to PING), Enter; "COLL" + Tab, Enter; ↑ recalls COLLECTIONS; Ctrl-D.
        let out = try interact(shell, history: dir.appendingPathComponent("history"), keys: "PIN\tz\u{7F}\r" + "COLL\t\r" + "\u{1B}[A\r" + "\u{04}")
        XCTAssertTrue(out.contains("fragrancedb>"), out)
        XCTAssertTrue(out.contains("PONG"), "Tab completed PIN to PING: \(out)")
        XCTAssertEqual(out.components(separatedBy: "(0 rows,").count - 1, 2, "COLLECTIONS ran twice (the second from history): \(out)")
    }

    /// Issue #20: --eval splits only outside double quotes; output is plain when not a
    /// terminal, and --json / --raw choose a form; table widths count terminal columns (Korean
    /// takes two); long and nested values are shown whole, expanded.
    func testEvalQuotesOutputModesAndWidths() throws {
        let shell = try binary()
        let setup = #"CREATE k {"dimension": 2}; UPSERT k [{"id": "a;b", "vector": [1, 0], "name": "장미 정원; 봄", "n": 1}, {"id": "c", "vector": [0, 1], "name": "Rose", "n": 22}]"#
        let made = try run(shell, ["shell", "--port", "\(port)", "--eval", setup], stdin: "")
        XCTAssertEqual(made.status, 0, made.err + made.out)
        XCTAssertEqual(made.out.split(separator: "\n"), ["created k", "inserted=2 updated=0"], made.out)

        let got = try run(shell, ["shell", "--port", "\(port)", "--eval", #"GET k "a;b"; COUNT k FILTER "name = '장미 정원; 봄'""#], stdin: "")
        XCTAssertEqual(got.status, 0, got.err)
        let plain = got.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(plain.count, 2, got.out)
        XCTAssertEqual((try? JSONSerialization.jsonObject(with: Data(plain[0].utf8)) as? [String: Any])?["name"] as? String, "장미 정원; 봄")
        XCTAssertEqual(plain[1], "1")

        let json = try run(shell, ["shell", "--port", "\(port)", "--json", "--eval", "COUNT k; GET k c; FROB"], stdin: "")
        XCTAssertEqual(json.status, 1)
        let docs = json.out.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(docs.count, 3, json.out)
        XCTAssertEqual(docs[0]?["ok"] as? String, "2")
        XCTAssertEqual(((docs[1]?["rows"] as? [[String: Any]])?.first)?["id"] as? String, "c")
        XCTAssertEqual((docs[2]?["error"] as? [String: Any])?["code"] as? String, "UNKNOWN_COMMAND")

        let raw = try run(shell, ["shell", "--port", "\(port)", "--raw", "--eval", "COUNT k; GET k c"], stdin: "")
        XCTAssertTrue(raw.out.hasPrefix("+OK 2\n*1\n{"), raw.out)
        XCTAssertEqual(try run(shell, ["shell", "--json", "--raw", "--eval", "PING"], stdin: "").status, 64, "one output form at a time")

        // Table widths in terminal columns: the column after a Korean name starts where it does after a Latin one.
        let table = try run(shell, ["shell", "--port", "\(port)", "--output", "table", "--eval", "SCROLL k FIELDS \"name,n\""], stdin: "")
        let rows = table.out.split(separator: "\n").map(String.init).filter { $0.hasPrefix("a;b") || $0.hasPrefix("c ") }
        XCTAssertEqual(rows.count, 2, table.out)
        func column(_ line: String, of text: String) -> Int? {
            guard let r = line.range(of: text) else { return nil }
            return String(line[..<r.lowerBound]).unicodeScalars.reduce(0) { $0 + (($1.value >= 0xAC00 && $1.value <= 0xD7A3) ? 2 : 1) }
        }
        XCTAssertNotNil(column(rows[0], of: " 1"), table.out)
        XCTAssertEqual(column(rows[0], of: " 1").map { $0 + 1 }, column(rows[1], of: "22"), "the n column lines up: \(table.out)")

        // INFO's nested sections are shown whole, expanded, not cut at 80 characters.
        let info = try run(shell, ["shell", "--port", "\(port)", "--output", "table", "--eval", "INFO"], stdin: "")
        XCTAssertEqual(info.status, 0, info.err)
        XCTAssertFalse(info.out.contains("..."), info.out)
        XCTAssertTrue(info.out.contains("-[ 1 ]"), info.out)
        XCTAssertTrue(info.out.contains(#""data_directory""#), info.out)
    }

    /// Issue #20: history persists in a file (never a line with a token), Ctrl-R finds an older
    /// command, and completion offers a collection created during the session.
    func testHistoryPersistsSearchesAndCompletionFollowsCollections() throws {
        let shell = try binary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("util-linux script is missing") }
        let dir = temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let history = dir.appendingPathComponent("history")
        let first = try interact(shell, history: history, keys: "PING\r" + "AUTH nobody secret-token\r" + "CREATE freshly {\"dimension\": 2}\r" + "COUNT fre\t\r" + "\u{04}")
        XCTAssertTrue(first.contains("created freshly"), first)
        XCTAssertTrue(first.contains("COUNT freshly "), "the new collection completed: \(first)")
        let saved = try String(contentsOf: history, encoding: .utf8)
        XCTAssertTrue(saved.contains("PING\n") && saved.contains("COUNT freshly"), saved)
        XCTAssertFalse(saved.contains("secret-token"), "tokens stay out of the history file")

        // A new session: Ctrl-R "PIN" finds PING from the last one; Enter runs it.
        let second = try interact(shell, history: history, keys: "\u{12}PIN\r" + "\u{04}")
        XCTAssertTrue(second.contains("(reverse-i-search)'PIN': PING"), second)
        XCTAssertTrue(second.contains("PONG"), second)
    }

    /// Types `keys` into an interactive shell through a pseudo-terminal, as a person would (one
    /// key at a time, waiting for the prompt after Enter); returns what it showed. It fails the
    /// test if the shell does not exit by itself (the keys should end with Ctrl-D).
    func interact(_ shell: URL, history: URL, keys: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qfec", "\(shell.path) shell --port \(port)", "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["FRAGRANCEDB_HISTORY"] = history.path
        p.environment = env
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        let seen = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            seen.withLock { $0.append(d) }
        }
        try p.run()
        func shown() -> String { seen.withLock { String(decoding: $0, as: UTF8.self) } }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !shown().contains("fragrancedb>") { Thread.sleep(forTimeInterval: 0.05) }
        for ch in keys.unicodeScalars {
            input.fileHandleForWriting.write(Data(String(ch).utf8))
            // After Enter, wait for the next prompt, as a person would.
            if ch == "\r" {
                let prompts = shown().components(separatedBy: "fragrancedb>").count
                let until = Date().addingTimeInterval(10)
                while Date() < until, shown().components(separatedBy: "fragrancedb>").count <= prompts { Thread.sleep(forTimeInterval: 0.02) }
            } else {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        let exitBy = Date().addingTimeInterval(15)
        while p.isRunning && Date() < exitBy { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { p.terminate(); XCTFail("the shell did not exit on Ctrl-D") }
        p.waitUntilExit()
        try input.fileHandleForWriting.close()
        Thread.sleep(forTimeInterval: 0.2)
        output.fileHandleForReading.readabilityHandler = nil
        return shown()
    }
}
