import Foundation
import XCTest
import TestSupport
@testable import FragranceProtocol
@testable import FragranceServer
@testable import FragranceStore

/// Issue #17 over real loopback sockets: inputs that once crashed the server, overwrote
/// another record, or let one client hold memory, threads or connections.
final class HardeningTests: ServerTestCase {
    override func configure(_ config: inout LineServer.Configuration) {
        config.lineTimeout = .milliseconds(400)
        config.maxPendingLineBytes = 1 << 20
    }

    private func makeCollection(_ c: TestClient, _ name: String = "p", dimension: Int = 2) {
        XCTAssertEqual(c.call(#"CREATE \#(name) {"dimension": \#(dimension), "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "seasons", "type": "set"}, {"name": "about", "type": "text"}]}}"#),
                       ["+OK created \(name)"])
    }

    func testOutOfRangeIntegersAreErrorsNotCrashes() throws {
        let c = try TestClient(port: port)
        // Was a trap in UInt64(_:) that killed the process.
        XCTAssertEqual(c.call(#"CREATE x {"dimension": 4, "seed": -1}"#), ["-ERR OUT_OF_RANGE 'seed' must be 0 to \(Int.max), got -1"])
        XCTAssertEqual(c.call(#"CREATE x {"dimension": true}"#).first?.hasPrefix("-ERR BAD_TYPE 'dimension' must be an integer"), true)
        let huge = c.call(#"CREATE x {"dimension": 1e30}"#).first ?? ""
        XCTAssertTrue(huge.hasPrefix("-ERR OUT_OF_RANGE 'dimension'"), huge)
        XCTAssertFalse(huge.contains("-9223372036854775808"), huge)
        XCTAssertEqual(c.call(#"CREATE x {"dimension": 4, "m": 3.5}"#).first?.hasPrefix("-ERR BAD_TYPE 'm' must be an integer"), true)
        XCTAssertEqual(c.call("PING"), ["+OK PONG"], "still serving")
        XCTAssertEqual(c.call(#"CREATE x {"dimension": 4, "seed": 18446744073709551615}"#).first?.hasPrefix("-ERR OUT_OF_RANGE"), true)
        XCTAssertEqual(c.call(#"CREATE x {"dimension": 4, "seed": 7}"#), ["+OK created x"])
    }

    func testNULAndControlCharactersCannotReplaceAnotherRecord() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        XCTAssertEqual(c.call(#"UPSERT p {"id": "victim", "vector": [1, 0], "family": "floral"}"#), ["+OK inserted=1 updated=0"])
        // Bound with length -1, "victim\0evil" was stored as "victim" and replaced it.
        let nul = c.call(#"UPSERT p {"id": "victim\u0000evil", "vector": [0, 1], "family": "woody"}"#).first ?? ""
        XCTAssertTrue(nul.hasPrefix("-ERR BAD_RECORD record id 'victim\\u0000evil' holds control character U+0000"), nul)
        XCTAssertFalse(nul.utf8.contains(0), "the reply never carries the NUL itself")
        let member = c.call(#"UPSERT p {"id": "b", "vector": [0, 1], "seasons": ["spring\u0000x"]}"#).first ?? ""
        XCTAssertTrue(member.hasPrefix("-ERR BAD_RECORD record 'b': 'seasons' value 'spring\\u0000x' holds control character"), member)
        XCTAssertTrue(c.call(#"UPSERT p {"id": "c", "vector": [0, 1], "family": "a\u001bb"}"#).first?.hasPrefix("-ERR BAD_RECORD") ?? false)
        XCTAssertTrue(c.call(#"UPSERT p {"id": "d", "vector": [0, 1], "about": "bell\u0007"}"#).first?.hasPrefix("-ERR BAD_RECORD") ?? false)
        XCTAssertEqual(c.call(#"UPSERT p {"id": "e", "vector": [0, 1], "about": "two\nlines\tand a tab"}"#), ["+OK inserted=1 updated=0"], "text keeps line breaks")
        XCTAssertEqual(c.call("GET p victim"), ["*1", #"{"family":"floral","id":"victim"}"#])
        XCTAssertEqual(c.call("COUNT p"), ["+OK 2"])
        // What is on disk agrees after a reopen.
        server.stop()
        try db.close()
        db = try Database(directory: dir)
        XCTAssertEqual(try db.collection("p").get("victim")?.attributes["family"], .string("floral"))
        XCTAssertEqual(try db.collection("p").get("e")?.attributes["about"], .string("two\nlines\tand a tab"))
        XCTAssertEqual(try db.collection("p").count, 2)
    }

    func testSQLiteStringsAreBoundWithTheirLength() throws {
        let sql = try SQLiteDatabase(path: dir.appendingPathComponent("bind.sqlite").path)
        try sql.execute("CREATE TABLE t(s TEXT)")
        try sql.statement("INSERT INTO t VALUES(?)").run(.text("a\u{0}b"))
        try sql.statement("INSERT INTO t VALUES(?)").run(.text(""))
        var back: [String?] = []
        try sql.statement("SELECT s FROM t ORDER BY rowid").forEachRow { back.append($0.text(0)) }
        XCTAssertEqual(back, ["a\u{0}b", ""])
    }

    func testTrailingCommasAndDeepNestingAreBadJSON() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        XCTAssertEqual(c.call(#"UPSERT p {"id": "t1", "vector": [1, 0],}"#).first?.hasPrefix("-ERR BAD_JSON not valid JSON: trailing comma"), true)
        XCTAssertEqual(c.call(#"UPSERT p [{"id": "t1", "vector": [1, 0]},]"#).first?.hasPrefix("-ERR BAD_JSON"), true)
        XCTAssertEqual(c.call(#"CREATE q {"dimension": 2,}"#).first?.hasPrefix("-ERR BAD_JSON"), true)
        // Foundation's parser recurses per level: this once could take the thread's stack.
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        XCTAssertEqual(c.call("UPSERT p \(deep)").first?.hasPrefix("-ERR BAD_JSON not valid JSON: nesting deeper than 64 levels"), true)
        XCTAssertEqual(c.call("COUNT p"), ["+OK 0"])
    }

    func testNamesThatWouldShareTablesAreRefused() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "t")
        XCTAssertEqual(c.call(#"CREATE T {"dimension": 2}"#), ["-ERR EXISTS collection 'T' clashes with 't' (names differ only in case)"])
        // c_a__set_b__records would be both a's set table for field b__records and a__set_b's records.
        XCTAssertEqual(c.call(#"CREATE a {"dimension": 2, "schema": {"fields": [{"name": "b__records", "type": "set"}]}}"#), ["+OK created a"])
        XCTAssertEqual(c.call(#"CREATE a__set_b {"dimension": 2}"#).first?.hasPrefix("-ERR BAD_REQUEST collection name 'a__set_b' may not contain '__'"), true)
        XCTAssertEqual(c.call(#"CREATE z_ {"dimension": 2}"#).first?.hasPrefix("-ERR BAD_REQUEST"), true)
        let fields = (0..<10_000).map { #"{"name": "f\#($0)", "type": "int"}"# }.joined(separator: ",")
        XCTAssertEqual(c.call(#"CREATE wide {"dimension": 2, "schema": {"fields": [\#(fields)]}}"#),
                       ["-ERR BAD_SCHEMA a schema may have at most 256 fields, this one has 10000"])
    }

    func testAFullDiskIsAnIOErrorNamingTheFile() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        XCTAssertEqual(c.call(#"UPSERT p {"id": "a", "vector": [1, 0]}"#), ["+OK inserted=1 updated=0"])
        // SQLite's page cap makes the next growth fail with SQLITE_FULL, as a full disk does.
        try db.sqlLock.withLock {
            var pages = 0
            try db.sql.statement("PRAGMA page_count").forEachRow { pages = Int($0.int(0)) }
            try db.sql.execute("PRAGMA max_page_count = \(pages)")
        }
        let big = (0..<400).map { #"{"id": "r\#($0)", "vector": [1, 0], "about": "\#(String(repeating: "x", count: 2000))"}"# }.joined(separator: ",")
        let reply = c.call("UPSERT p [\(big)]").first ?? ""
        XCTAssertTrue(reply.hasPrefix("-ERR IO disk full writing \(dir.path)/catalog.sqlite"), reply)
        XCTAssertEqual(c.call("COUNT p"), ["+OK 1"], "nothing of the failed request was stored")
    }

    /// Closes the database with files capped at 64 KiB, as a full disk would stop its writes.
    private func closeUnderFileSizeLimit() -> Result<Void, Error> {
        signal(SIGXFSZ, SIG_IGN)
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        var small = old
        small.rlim_cur = 64 << 10
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small)
        defer { setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old) }
        return Result { try db.close() }
    }

    func testAFailedSaveLeavesNoTempFileAndCloseStillClosesSQLite() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "v", dimension: 32)
        let rows = (0..<2000).map { i in #"{"id": "r\#(i)", "vector": [\#((0..<32).map { String(($0 * 7 + i) % 13 + ($0 == 0 ? i : 0)) }.joined(separator: ","))]}"# }
        XCTAssertEqual(c.call("UPSERT v [\(rows.joined(separator: ","))]"), ["+OK inserted=2000 updated=0"])
        // A file-size limit makes the index write fail part-way, as a full disk does.
        let failure = closeUnderFileSizeLimit()
        guard case .failure(let e as StoreError) = failure else { return XCTFail("the save should have failed: \(failure)") }
        XCTAssertEqual(e.code, .io)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertFalse(files.contains { $0.hasSuffix(".tmp") }, "\(files)")
        // SQLite was closed and the directory unlocked anyway: it opens, with every record.
        server.stop()
        db = try Database(directory: dir)
        XCTAssertEqual(try db.collection("v").count, 2000)
    }

    func testAFailedCheckpointAtCloseIsAnIOError() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "w", dimension: 32)
        // 13 distinct vectors: the index file is small and saves; SQLite's checkpoint is what
        // the file-size limit stops (it was a bare "SQLite error 778").
        let rows = (0..<2000).map { i in #"{"id": "r\#(i)", "about": "\#(String(repeating: "x", count: 200))", "vector": [\#((0..<32).map { String(($0 * 7 + i) % 13 + 1) }.joined(separator: ","))]}"# }
        XCTAssertEqual(c.call("UPSERT w [\(rows.joined(separator: ","))]"), ["+OK inserted=2000 updated=0"])
        let failure = closeUnderFileSizeLimit()
        guard case .failure(let e as StoreError) = failure else { return XCTFail("a StoreError was expected: \(failure)") }
        XCTAssertEqual(e.code, .io)
        XCTAssertTrue(e.message.contains("catalog.sqlite"), e.message)
        server.stop()
        db = try Database(directory: dir)
        XCTAssertEqual(try db.collection("w").count, 2000)
    }

    func testSnapshotsInTheSameSecondNeverOverwriteEachOther() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        XCTAssertEqual(c.call(#"UPSERT p {"id": "a", "vector": [1, 0]}"#), ["+OK inserted=1 updated=0"])
        let names = (0..<5).compactMap { _ in c.call("SNAPSHOT p").first }
        XCTAssertEqual(Set(names).count, 5, "\(names)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("snapshots").path)
        XCTAssertEqual(files.filter { $0.hasSuffix(".fdbz") }.count, 5)
        XCTAssertFalse(files.contains { $0.hasSuffix(".tmp") })
    }

    func testReplyTextsCannotForgeAnotherReply() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        c.send(Array("GET p a\u{0}b\u{1b}[31m\r\n".utf8))
        let reply = c.line() ?? ""
        XCTAssertEqual(reply, "-ERR NOT_FOUND no record 'a\\u0000b\\u001b[31m' in 'p'")
        XCTAssertEqual(Reply.ok("authenticated as x\r\n+OK forged").encoded, "+OK authenticated as x  +OK forged\r\n")
        XCTAssertEqual(Reply.error(code: "X", message: "a\u{0}b\nc").encoded, "-ERR X a\\u0000b c\r\n")
    }

    func testLinesBeforeTheClientsFINAreAllAnswered() throws {
        let c = try TestClient(port: port)
        makeCollection(c)
        let d = try TestClient(port: port)
        d.send("PING\r\nCOUNT p\r\nHELP PING\r\nPING")   // the last, without LF, is not a line
        shutdown(d.fd, Int32(SHUT_WR))
        XCTAssertEqual(d.reply(), ["+OK PONG"])
        XCTAssertEqual(d.reply(), ["+OK 0"])
        XCTAssertEqual(d.reply().first, "*1")
        XCTAssertNil(d.line(), "then the server closes")
    }

    func testALineMustArriveWithinItsDeadline() throws {
        let c = try TestClient(port: port)
        c.send("PI")
        Thread.sleep(forTimeInterval: 0.2)
        c.send("N")   // a trickle keeps the idle timer happy, not the line deadline
        XCTAssertEqual(c.line(), "-ERR TIMEOUT a request line must arrive whole within 400 ms; closing")
        XCTAssertNil(c.line())
        let d = try TestClient(port: port)
        XCTAssertEqual(d.call("PING"), ["+OK PONG"])
    }

    func testUnfinishedLinesShareOneBudget() throws {
        // 1 MiB for all connections (configure): the third half-megabyte line is refused.
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 400_000)
        let clients = try (0..<3).map { _ in try TestClient(port: port) }
        for c in clients { c.send(Array("UPSERT p ".utf8) + chunk); Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(clients[2].line(), "-ERR BUSY the server holds 1048576 bytes of unfinished lines for all connections; closing this one")
        XCTAssertNil(clients[2].line())
        XCTAssertEqual(try TestClient(port: port).call("PING"), ["+OK PONG"])
    }

    func testRepliesNotReadStopTheConnectionBeingRead() throws {
        let before = residentBytes()
        let flood = try TestClient(port: port, timeoutSeconds: 2)
        var sndTimeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(flood.fd, SOL_SOCKET, SO_SNDTIMEO, &sndTimeout, socklen_t(MemoryLayout<timeval>.size))
        // 350,000 HELPs (2 KB of reply each, 700 MB in all) sent and never read.
        flood.send(Array(String(repeating: "HELP\r\n", count: 350_000).utf8))
        Thread.sleep(forTimeInterval: 1)
        let grown = residentBytes() - before
        XCTAssertLessThan(grown, 150 << 20, "server memory grew \(grown >> 20) MiB for one connection that does not read")
        let other = try TestClient(port: port)
        XCTAssertEqual(other.call("PING"), ["+OK PONG"])
    }

    func testIdenticalVectorsShareANodeAndStayFindable() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "d", dimension: 16)
        var rng = SplitMix(seed: 5)
        let distinct = (0..<600).map { _ in (0..<16).map { _ in String(format: "%.3f", rng.unit() - 0.5) } }
        // 90% of the records share one vector (editions and sizes of one perfume, say).
        for b in 0..<6 {
            let batch = (0..<1000).map { i -> String in
                let n = b * 1000 + i
                return #"{"id": "r\#(n)", "vector": [\#((n < 600 ? distinct[n] : distinct[0]).joined(separator: ","))]}"#
            }.joined(separator: ",")
            XCTAssertEqual(c.call("UPSERT d [\(batch)]").first?.hasPrefix("+OK inserted=1000"), true)
        }
        func check(_ collection: FragranceStore.Collection, _ when: String) throws {
            XCTAssertEqual(collection.count, 6000, when)
            XCTAssertEqual(collection.index.liveNodes, 600, "\(when): one graph node per distinct vector")
            var graph = QueryPlanner()
            graph.alwaysExactBelow = 0
            graph.graphCostFactor = 0
            var right = 0, total = 0
            for q in 0..<40 {
                let v = q < 20 ? distinct[q * 7].map { Float($0)! } : (0..<16).map { _ in Float(rng.unit() - 0.5) }
                let got = try collection.search(SearchRequest(vector: v, k: 10), planner: graph)
                XCTAssertEqual(got.plan.path, .hnsw)
                let exact = try collection.search(SearchRequest(vector: v, k: 10, exact: true))
                let kth = exact.hits.last!.distance
                right += got.hits.filter { $0.distance <= kth + 1e-5 }.count
                total += exact.hits.count
            }
            // Before: 5,400 equal nodes linked only to each other; recall@10 was 0.02-0.06.
            XCTAssertGreaterThanOrEqual(Double(right) / Double(total), 0.95, "\(when): recall@10 \(right)/\(total)")
        }
        try check(try db.collection("d"), "live")
        XCTAssertEqual(c.call("DEL d r0 r600"), ["+OK deleted=2"])
        XCTAssertEqual(c.call("SEARCH d K 3 EXACT VECTOR [\(distinct[0].joined(separator: ","))]").count, 4)
        server.stop()
        try db.close()
        db = try Database(directory: dir)
        let reopened = try db.collection("d")
        XCTAssertEqual(reopened.count, 5998)
        XCTAssertEqual(reopened.index.liveNodes, 600, "the shared node survives its first records' deletion and a reopen")
    }

    func testVectorsTheMetricCannotRankAreRefusedOnBothSides() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "z", dimension: 2)
        let zero = c.call(#"UPSERT z {"id": "a", "vector": [0, 0]}"#).first ?? ""
        XCTAssertEqual(zero, "-ERR BAD_RECORD record 'a': vector is all zeros (cosine similarity needs a direction)")
        let tiny = c.call(#"UPSERT z {"id": "a", "vector": [1e-40, 0]}"#).first ?? ""
        XCTAssertTrue(tiny.hasPrefix("-ERR BAD_RECORD record 'a': vector is too short"), tiny)
        let huge = c.call(#"UPSERT z {"id": "a", "vector": [1e30, 1e30]}"#).first ?? ""
        XCTAssertTrue(huge.hasPrefix("-ERR BAD_RECORD record 'a': vector is too long"), huge)
        XCTAssertEqual(c.call(#"UPSERT z [{"id": "ok", "vector": [1, 0]}, {"id": "b", "vector": [0, 0]}]"#).first?.hasPrefix("-ERR BAD_RECORD record 'b'"), true)
        XCTAssertEqual(c.call("COUNT z"), ["+OK 0"], "nothing of a refused batch is stored")
        XCTAssertEqual(c.call(#"UPSERT z {"id": "ok", "vector": [1e-18, 3e-18]}"#), ["+OK inserted=1 updated=0"], "small but rankable")
        XCTAssertEqual(c.call("SEARCH z K 1 VECTOR [1, 3]").dropFirst().first?.contains("ok"), true, "and found")
        let query = c.call("SEARCH z VECTOR [0, 0]").first ?? ""
        XCTAssertEqual(query, "-ERR BAD_REQUEST query vector is all zeros (cosine similarity needs a direction)")
        XCTAssertEqual(c.call(#"CREATE e {"dimension": 2, "metric": "l2"}"#), ["+OK created e"])
        XCTAssertEqual(c.call(#"UPSERT e {"id": "origin", "vector": [0, 0]}"#), ["+OK inserted=1 updated=0"], "l2 ranks the origin")
    }

    func testLongQueryTextIsRefusedBeforeItIsParsed() throws {
        let c = try TestClient(port: port, timeoutSeconds: 20)
        makeCollection(c)
        // A megabyte of QUERY text once took 9 s of parsing on a command thread.
        let long = String(repeating: "rose ", count: 200_000)
        let t0 = Date()
        XCTAssertEqual(c.call("QUERY p \"\(long)\"").first, "-ERR TOO_LARGE the query text is longer than 2000 characters (limits.max_query_length)")
        XCTAssertEqual(c.call("SEARCH p TEXT \"\(long)\"").first?.hasPrefix("-ERR TOO_LARGE"), true)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "refused without parsing")
        XCTAssertEqual(c.call("QUERY p \"\(String(repeating: "장", count: 2001))\"").first?.hasPrefix("-ERR TOO_LARGE"), true, "characters, not bytes")
    }

    func testPingIsAnsweredWhileTwoConnectionsRunHeavyCommands() throws {
        let c = try TestClient(port: port)
        makeCollection(c, "h", dimension: 64)
        var rng = SplitMix(seed: 3)
        for b in 0..<5 {
            let batch = (0..<1000).map { i in
                #"{"id": "r\#(b * 1000 + i)", "vector": [\#((0..<64).map { _ in String(format: "%.3f", rng.unit() - 0.5) }.joined(separator: ","))]}"#
            }.joined(separator: ",")
            XCTAssertEqual(c.call("UPSERT h [\(batch)]").first?.hasPrefix("+OK"), true)
        }
        let query = "SEARCH h K 1000 EXACT VECTOR [\((0..<64).map { _ in "0.1" }.joined(separator: ","))]"
        let heavy = try (0..<2).map { _ in try TestClient(port: port, timeoutSeconds: 60) }
        for h in heavy { h.send(String(repeating: query + "\r\n", count: 100)) }
        Thread.sleep(forTimeInterval: 0.3)   // both are busy now
        let probe = try TestClient(port: port)
        var ping = 0.0, count = 0.0
        for _ in 0..<5 {
            let t0 = Date()
            XCTAssertEqual(probe.call("PING"), ["+OK PONG"])
            let t1 = Date()
            XCTAssertEqual(probe.call("COUNT h").first, "+OK 5000")
            ping = max(ping, t1.timeIntervalSince(t0))
            count = max(count, Date().timeIntervalSince(t1))
        }
        print("PING worst \(ping) s, COUNT worst \(count) s behind two heavy connections")
        // Before: both command threads were taken and PING waited seconds for a batch.
        XCTAssertLessThan(ping, 0.1, "PING took \(ping) s behind two heavy connections")
        XCTAssertLessThan(count, 1, "COUNT took \(count) s behind two heavy connections")
        for h in heavy { shutdown(h.fd, Int32(SHUT_RDWR)) }
    }
}
