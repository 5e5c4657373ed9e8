import Foundation
import XCTest
import TestSupport
@testable import FragranceProtocol
@testable import FragranceServer
@testable import FragranceStore

/// Seeded random inputs for the line parser, the command table and the filter parser, run
/// for a bounded count in every test run: nothing may crash, every answer is a reply or a
/// typed error, and the data stays intact.
final class FuzzTests: XCTestCase {

    func testRandomLinesNeverCrashTheRouterOrCorruptData() throws {
        let dir = temporaryDirectory("fuzz", create: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Database(directory: dir)
        let router = try CommandRouter(database: db)
        _ = router.handle(line: #"CREATE p {"dimension": 2, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "tags", "type": "set"}]}}"#)
        _ = router.handle(line: #"UPSERT p [{"id": "a", "vector": [1, 0], "family": "floral", "tags": ["x"]}]"#)
        let pieces = ["SEARCH", "UPSERT", "COUNT", "GET", "DEL", "CREATE", "DROP", "HELP", "p", "q", "K", "EF", "FILTER", "TEXT", "VECTOR",
                      "EXACT", "EXPLAIN", "\"", "'", "[", "]", "{", "}", "\"family = 'floral'\"", "[1, 0]", "[1e400]", "{\"id\": 1}",
                      "-1", "0", "99999999999999999999", "\\", "NOT", "AND", "(", ")", "\u{0}", "\u{FFFD}", "é", "🌸", ",", ":", "null"]
        var rng = SplitMix(7)
        for _ in 0..<3000 {
            var line: String
            if rng.next() % 4 == 0 {
                line = String(decoding: (0..<Int(rng.next() % 60)).map { _ in UInt8(rng.next() % 256) }, as: UTF8.self)
            } else {
                line = (0..<Int(1 + rng.next() % 8)).map { _ in rng.pick(pieces) }.joined(separator: rng.next() % 3 == 0 ? "" : " ")
            }
            let head = line.uppercased()
            if head.hasPrefix("DROP") || head.hasPrefix("DEL") { continue }   // keep record a to check afterwards
            let (reply, _) = router.handle(line: line)
            switch reply {
            case .error(let code, _):
                XCTAssertNotEqual(code, "INTERNAL", line)
                XCTAssertFalse(reply.encoded.dropLast(2).contains("\n"), "an error is one line: \(line)")
            case .ok:
                XCTAssertFalse(reply.encoded.dropLast(2).contains("\n"), "a status is one line: \(line)")
            case .lines(let rows):
                XCTAssertFalse(rows.contains { $0.contains("\n") }, "each block line is one line: \(line)")
            }
        }
        let c = try db.collection("p")
        XCTAssertNotNil(try c.get("a"))
        try db.close()
    }

    func testRandomFiltersParseOrFailWithAPosition() {
        let pieces = ["family", "tags", "notes.top", "=", "!=", "<", ">=", "IN", "BETWEEN", "AND", "OR", "NOT", "CONTAINS", "ANY", "ALL",
                      "(", ")", ",", "'floral'", "\"x\"", "'", "1", "-2.5e3", "..", "!", "_", "é", "🌸", "\\", "''"]
        var rng = SplitMix(11)
        for _ in 0..<20000 {
            let text = (0..<Int(1 + rng.next() % 10)).map { _ in rng.pick(pieces) }.joined(separator: rng.next() % 4 == 0 ? "" : " ")
            do {
                _ = try FilterParser.parse(text)
            } catch let e as StoreError {
                XCTAssertEqual(e.code, .badFilter, text)
                XCTAssertNotNil(e.position, "\(text): \(e.message)")
                if let p = e.position { XCTAssertTrue((1...(text.count + 1)).contains(p), "\(text): position \(p)") }
            } catch {
                XCTFail("\(text): \(error)")
            }
        }
    }
}
