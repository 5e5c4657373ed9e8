import Foundation
import XCTest
import TestSupport
@testable import FragranceStore

/// kill -9 of a writing process at random moments: every acknowledged write must be there
/// after reopening, with its vector, findable by search; acknowledged deletes stay deleted.
final class CrashTests: XCTestCase {
    func crashWriter() throws -> URL {
        if let url = Repository.builtProduct("crash-writer") { return url }
        throw XCTSkip("crash-writer not built next to the tests (run swift build --build-tests first)")
    }

    func testAcknowledgedWritesSurviveKill9() throws {
        let writer = try crashWriter()
        let dir = temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(at: dir) }
        var live = Set<String>(), deleted = Set<String>()
        var rng = SplitMix(31)
        for round in 0..<6 {
            let p = Process()
            p.executableURL = writer
            p.arguments = [dir.path, String(round + 1)]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let wait = 0.3 + Double(rng.next() % 700) / 1000
            Thread.sleep(forTimeInterval: wait)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            var acked = 0
            var undecided: String?   // a delete that started but was not acknowledged
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ").map(String.init)
                // A line cut by the kill may lack its newline; only whole lines count.
                guard text.contains(line + "\n") else { continue }
                if parts.first == "U" { parts.dropFirst().forEach { live.insert($0); deleted.remove($0) }; acked += 1 }
                if parts.first == "d", parts.count == 2 { undecided = parts[1] }
                if parts.first == "D", parts.count == 2 { live.remove(parts[1]); deleted.insert(parts[1]); undecided = nil }
            }
            if let id = undecided { live.remove(id) }
            XCTAssertGreaterThan(acked, 0, "round \(round): the writer acknowledged nothing in \(wait)s")

            let db = try Database(directory: dir)
            let c = try db.collection("c")
            print("crash round \(round): killed after \(wait)s, \(acked) commits acknowledged, \(live.count) live ids, index \(c.openReport)")
            for id in live {
                guard let r = try c.get(id) else { XCTFail("round \(round): acknowledged \(id) lost"); continue }
                XCTAssertEqual(r.vector, vectorFor(id), id)
            }
            for id in deleted { XCTAssertNil(try c.get(id), "round \(round): deleted \(id) came back") }
            // At most the one batch in flight at the kill may be stored without an acknowledgement.
            XCTAssertLessThanOrEqual(c.count - live.count, 20, "round \(round)")
            XCTAssertGreaterThanOrEqual(c.count, live.count)   // `live` excludes the undecided id
            for id in live.sorted().prefix(30) {
                let hits = try c.search(SearchRequest(vector: vectorFor(id), k: 3)).hits
                XCTAssertTrue(hits.contains { $0.id == id } || hits.first?.distance ?? 1 < 1e-6, "round \(round): \(id) not found by its vector")
            }
            XCTAssertEqual(c.stats.records, c.count)
            try db.close()
            // Adopt what the database really holds (the in-flight batch may have committed).
            let reopened = try Database(directory: dir)
            live = Set(try reopened.collection("c").ids(matching: "round > 0"))
            try reopened.close()   // releases the directory lock for the next writer
        }
    }

    func vectorFor(_ id: String) -> [Float] {
        var h: UInt64 = 1469598103934665603
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return (0..<8).map { i in Float((h >> UInt64(i * 7)) & 0x7F) / 64 - 1 + Float(i) * 0.01 }
    }
}

extension CrashTests {
    /// A second process may not open a directory a live one holds (its indexes would diverge).
    func testASecondProcessCannotOpenALiveDataDirectory() throws {
        let writer = try crashWriter()
        let dir = temporaryDirectory("lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Database(directory: dir)
        let p = Process()
        p.executableURL = writer
        p.arguments = [dir.path, "1"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains("is in use by another process (pid \(getpid()))"), message)
        try db.close()
    }
}
