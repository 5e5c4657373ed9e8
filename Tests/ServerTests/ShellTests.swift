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
        let ok = try run(shell, ["shell", "--port", "\(port)", "--eval", "\(create); \(upsert); SEARCH p K 2 VECTOR [1, 0.1]"], stdin: "")
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
        XCTAssertTrue(piped.out.contains("2  ("), piped.out)
        XCTAssertTrue(piped.out.contains("PONG"), piped.out)
        XCTAssertTrue(piped.err.contains("error UNKNOWN_COMMAND"), piped.err)

        let down = try run(shell, ["shell", "--port", "1", "--eval", "PING"], stdin: "")
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("error:"), down.err)
    }

    func testInteractiveShellThroughAPseudoTerminal() throws {
        let shell = try binary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("util-linux script is missing") }
        // Keys: "PIN" + Tab (completes to PING), Enter; "COLL" + Tab, Enter; ↑ recalls COLLECTIONS; Ctrl-D.
        let keys = "PIN\tz\u{7F}\r" + "COLL\t\r" + "\u{1B}[A\r" + "\u{04}"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qfec", "\(shell.path) shell --port \(port)", "/dev/null"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        let seen = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            seen.withLock { $0.append(d) }
        }
        try p.run()
        // Type only once the prompt is up, as a person would.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !seen.withLock({ String(decoding: $0, as: UTF8.self).contains("fragrancedb>") }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        for ch in keys.unicodeScalars {   // typed, not pasted
            input.fileHandleForWriting.write(Data(String(ch).utf8))
            Thread.sleep(forTimeInterval: 0.02)
        }
        let exitBy = Date().addingTimeInterval(15)
        while p.isRunning && Date() < exitBy { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            p.terminate()
            XCTFail("the shell did not exit on Ctrl-D")
        }
        p.waitUntilExit()
        try input.fileHandleForWriting.close()
        Thread.sleep(forTimeInterval: 0.2)
        output.fileHandleForReading.readabilityHandler = nil
        let out = seen.withLock { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(p.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("fragrancedb>"), out)
        XCTAssertTrue(out.contains("PONG"), "Tab completed PIN to PING: \(out)")
        XCTAssertEqual(out.components(separatedBy: "(0 rows,").count - 1, 2, "COLLECTIONS ran twice (the second from history): \(out)")
    }
}
