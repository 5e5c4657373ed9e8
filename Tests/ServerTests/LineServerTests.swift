import Foundation
import Synchronization
import XCTest
import TestSupport
@testable import FragranceProtocol
@testable import FragranceServer
@testable import FragranceStore

/// A blocking TCP client over POSIX sockets, so the tests talk to the server as `nc` would.
final class TestClient {
    let fd: Int32
    private var pending = [UInt8]()

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }
    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// One line without its CRLF; nil at end of stream.
    func line() -> String? {
        while true {
            if let i = pending.firstIndex(of: 0x0A) {
                var l = Array(pending[..<i])
                pending.removeFirst(i + 1)
                if l.last == 0x0D { l.removeLast() }
                return String(decoding: l, as: UTF8.self)
            }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return nil }
            pending += buf[..<n]
        }
    }

    /// One whole reply: the status line, plus the counted block for `*N`.
    func reply() -> [String] {
        guard let status = line() else { return [] }
        guard status.hasPrefix("*"), let n = Int(status.dropFirst()) else { return [status] }
        return [status] + (0..<n).compactMap { _ in line() }
    }

    func call(_ command: String) -> [String] {
        send(command + "\r\n")
        return reply()
    }

    /// Exactly `count` bytes (fewer at end of stream).
    func bytes(_ count: Int) -> [UInt8] {
        while pending.count < count {
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            pending += buf[..<n]
        }
        let out = Array(pending.prefix(count))
        pending.removeFirst(out.count)
        return out
    }
}

final class LineServerTests: ServerTestCase {
    override func configure(_ config: inout LineServer.Configuration) {
        config.maxLineBytes = 64 * 1024
        config.maxConnections = 32
    }

    func createPerfumes(_ c: TestClient) {
        XCTAssertEqual(c.call(#"CREATE p {"dimension": 3, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "year", "type": "int"}, {"name": "seasons", "type": "set"}]}}"#), ["+OK created p"])
        XCTAssertEqual(c.call(#"UPSERT p [{"id": "a", "vector": [1, 0, 0], "family": "floral", "year": 1990, "seasons": ["spring"]}, {"id": "b", "vector": [0, 1, 0], "family": "woody", "year": 2010}]"#),
                       ["+OK inserted=2 updated=0"])
    }

    func testEveryCommandOverARealSocket() throws {
        let c = try TestClient(port: port)
        XCTAssertEqual(c.call("PING"), ["+OK PONG"])
        XCTAssertEqual(c.call("ping"), ["+OK PONG"], "command names are case-insensitive")
        createPerfumes(c)
        XCTAssertEqual(c.call("COLLECTIONS"), ["*1", #"{"dimension":3,"embedder":null,"metric":"cosine","name":"p","records":2}"#])
        XCTAssertEqual(c.call("GET p a"), ["*1", #"{"family":"floral","id":"a","seasons":["spring"],"year":1990}"#])
        XCTAssertEqual(c.call("COUNT p"), ["+OK 2"])
        XCTAssertEqual(c.call(#"COUNT p FILTER "year > 2000""#), ["+OK 1"])
        let hits = c.call(#"SEARCH p K 1 FILTER "seasons CONTAINS 'spring'" VECTOR [0.1, 0.9, 0]"#)
        XCTAssertEqual(hits.count, 2)
        XCTAssertTrue(hits[1].contains(#""id":"a""#), hits[1])
        let explained = c.call("SEARCH p K 2 EXACT EXPLAIN VECTOR [0, 1, 0]")
        XCTAssertEqual(explained[0], "*3")
        XCTAssertTrue(explained[1].contains(#""id":"b""#))
        XCTAssertTrue(explained[3].contains(#""plan":{"#) && explained[3].contains(#""exact":true"#), explained[3])
        XCTAssertEqual(c.call(#"UPSERT p {"id": "a", "vector": [1, 0, 0], "family": "citrus"}"#), ["+OK inserted=0 updated=1"])
        XCTAssertEqual(c.call("DEL p a zzz"), ["+OK deleted=1"])
        XCTAssertEqual(c.call("GET p a"), ["-ERR NOT_FOUND no record 'a' in 'p'"])
        let info = c.call("INFO")
        XCTAssertEqual(info.first, "*1")
        XCTAssertTrue(info.last?.contains(#""records":1"#) ?? false, info.last ?? "")
        XCTAssertEqual(c.call("HELP SEARCH").count, 2)
        let help = c.call("HELP")
        XCTAssertEqual(help.first, "*\(CommandTable.all.count)")
        XCTAssertTrue(help.contains { $0.contains("AUTH <token>") } && help.contains { $0.contains("DROP <name>") && $0.contains("[admin]") })
        XCTAssertTrue(info.last?.contains(#""rss_bytes":"#) ?? false)
        let snap = c.call("SNAPSHOT p")
        XCTAssertTrue(snap[0].hasPrefix("+OK snapshots/p-"), snap[0])
        let file = String(snap[0].dropFirst("+OK snapshots/".count))
        XCTAssertEqual(c.call("RESTORE \(file) AS q"), ["+OK restored q records=1"])
        XCTAssertEqual(c.call("COUNT q"), ["+OK 1"])
        XCTAssertTrue(c.call("RESTORE ../../etc/passwd")[0].hasPrefix("-ERR BAD_REQUEST"))
        XCTAssertTrue(c.call("RESTORE missing.fdbz")[0].hasPrefix("-ERR NOT_FOUND"))
        XCTAssertEqual(c.call("DROP p"), ["+OK dropped p"])
        XCTAssertEqual(c.call("QUIT"), ["+OK bye"])
        XCTAssertNil(c.line(), "QUIT closes the connection")
    }

    func testErrorsNameWhatWasWrongAndTheConnectionStaysUsable() throws {
        let c = try TestClient(port: port)
        createPerfumes(c)
        let cases: [(String, String)] = [
            ("FROB", "-ERR UNKNOWN_COMMAND unknown command 'FROB'; try HELP"),
            (#"GET nope a"#, "-ERR NOT_FOUND no collection named 'nope'"),
            (#"UPSERT p {"id": "x", "vector": [1, 0"#, "-ERR BAD_JSON not valid JSON: unexpected end of input"),
            (#"UPSERT p {"id": "x", "vector": [1, 0, 0], "colour": "red"}"#, "-ERR BAD_RECORD record 'x': unknown field 'colour'"),
            (#"UPSERT p {"id": "x", "vector": [1, 0]}"#, "-ERR DIM_MISMATCH record 'x': vector has 2 dimensions, collection has 3"),
            (#"UPSERT p {"id": "x", "vector": [1, 0, 0], "year": true}"#, "-ERR BAD_RECORD record 'x': 'year' must be"),
            (#"COUNT p FILTER "year >""#, "-ERR BAD_FILTER expected a value after '>', found the end of the filter at position 7"),
            (#"COUNT p FILTER "colour = 'red'""#, "-ERR BAD_FILTER unknown field 'colour'"),
            (#"SEARCH p VECTOR [1, 0, 0, 0]"#, "-ERR DIM_MISMATCH query vector has 4 dimensions"),
            (#"SEARCH p K 5000 VECTOR [1, 0, 0]"#, "-ERR TOO_LARGE k 5000 is over the limit of 1000 (limits.max_k)"),
            (#"SEARCH p TEXT "rose""#, "-ERR BAD_REQUEST collection 'p' has no embedder"),
            (#"SEARCH p K 1"#, "-ERR SYNTAX SEARCH needs TEXT"),
            (#"SEARCH p "unterminated"#, "-ERR SYNTAX unterminated string"),
            (#"CREATE q {"dimension": 3, "colour": 1}"#, "-ERR UNKNOWN_FIELD unknown field 'colour'"),
            (#"CREATE q {"metric": "cosine"}"#, "-ERR MISSING_FIELD 'dimension' is required"),
            ("\u{01}\u{02}\u{7F}garbage", "-ERR SYNTAX expected a command name"),
        ]
        for (request, prefix) in cases {
            let r = c.call(request)
            XCTAssertEqual(r.count, 1, request)
            XCTAssertTrue(r[0].hasPrefix(prefix) || (prefix.hasPrefix("-ERR SYNTAX expected") && r[0].hasPrefix("-ERR UNKNOWN_COMMAND")),
                          "\(request) → \(r[0])")
        }
        XCTAssertEqual(c.call("COUNT p"), ["+OK 2"], "nothing stored by the failed requests")
        XCTAssertEqual(c.call("PING"), ["+OK PONG"])
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let c = try TestClient(port: port)
        createPerfumes(c)
        var batch = ""
        for i in 0..<300 {
            batch += #"UPSERT p {"id": "n\#(i)", "vector": [\#(i), 1, 0]}"# + "\r\n" + "COUNT p\r\n"
        }
        c.send(batch)
        for i in 0..<300 {
            XCTAssertEqual(c.reply(), ["+OK inserted=1 updated=0"])
            XCTAssertEqual(c.reply(), ["+OK \(i + 3)"], "replies come back in request order")
        }
    }

    /// Consecutive pipelined reads run side by side on the cores (issue #23); a write ends
    /// such a run, so every read still sees each write sent before it, errors stay in their
    /// place, and replies come back in request order.
    func testPipelinedReadsRunTogetherYetSeeEveryEarlierWrite() throws {
        let c = try TestClient(port: port)
        createPerfumes(c)
        var batch = ""
        for i in 0..<40 {
            batch += #"UPSERT p {"id": "r\#(i)", "vector": [1, \#(i + 2), 0]}"# + "\r\n"
            batch += "SEARCH p K 1 EXACT VECTOR [1, \(i + 2), 0]\r\nGET p r\(i)\r\nsearch nope K 1 VECTOR [1, 0, 0]\r\n"
            batch += "EXISTS p r\(i)\r\nCOUNT p\r\nSEARCH p K 2 EXACT VECTOR [1, 0, 0]\r\nDEL p r\(i)\r\nEXISTS p r\(i)\r\n"
        }
        c.send(batch)
        for i in 0..<40 {
            XCTAssertEqual(c.reply(), ["+OK inserted=1 updated=0"])
            let hit = c.reply()
            XCTAssertEqual(hit.count, 2)
            XCTAssertTrue(hit.last?.contains(#""id":"r\#(i)""#) ?? false, "\(hit)")
            XCTAssertEqual(c.reply(), ["*1", #"{"id":"r\#(i)"}"#])
            XCTAssertTrue(c.reply().first?.hasPrefix("-ERR NOT_FOUND") ?? false, "the error of its own line, in its place")
            XCTAssertEqual(c.reply(), ["*1", #""r\#(i)""#])
            XCTAssertEqual(c.reply(), ["+OK 3"])
            XCTAssertEqual(c.reply().count, 3)
            XCTAssertEqual(c.reply(), ["+OK deleted=1"])
            XCTAssertEqual(c.reply(), ["*0"], "the read after a DEL sees it")
        }
        XCTAssertEqual(c.call("COUNT p"), ["+OK 2"])
    }

    func testManyConcurrentClients() throws {
        let setup = try TestClient(port: port)
        createPerfumes(setup)
        let errors = Mutex<[String]>([])
        let port = self.port
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            do {
                let c = try TestClient(port: port)
                for i in 0..<40 {
                    let up = c.call(#"UPSERT p {"id": "t\#(t)-\#(i)", "vector": [1, \#(t + 1), \#(i + 1)]}"#)
                    let hit = c.call("SEARCH p K 1 EXACT VECTOR [1, \(t + 1), \(i + 1)]")
                    if up != ["+OK inserted=1 updated=0"] || hit.count != 2 || !hit[1].contains("t\(t)-\(i)") {
                        errors.withLock { $0.append("\(t)/\(i): \(up) \(hit)") }
                    }
                }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])
        XCTAssertEqual(setup.call("COUNT p"), ["+OK \(2 + 8 * 40)"])
    }

    func testOversizedLinesHalfLinesAndGarbageDoNotHurtTheServer() throws {
        let c = try TestClient(port: port)
        createPerfumes(c)
        // A line over the limit: a clear error, then the server closes that connection.
        let big = try TestClient(port: port)
        big.send("UPSERT p " + String(repeating: "x", count: 70 * 1024))
        XCTAssertTrue(big.line()?.hasPrefix("-ERR LINE_TOO_LONG") ?? false)
        XCTAssertNil(big.line())
        // Half a line, then the client goes away.
        do {
            let half = try TestClient(port: port)
            half.send(#"UPSERT p {"id": "half", "vector": [1, 0"#)
        }
        // Binary noise with a newline.
        let noise = try TestClient(port: port)
        noise.send((0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 37) }.filter { $0 != 0x0A } + [0x0A])
        XCTAssertTrue(noise.line()?.hasPrefix("-ERR") ?? false)
        XCTAssertEqual(noise.call("PING"), ["+OK PONG"])
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(c.call("COUNT p"), ["+OK 2"], "nothing half-written was stored")
        XCTAssertEqual(c.call("GET p half"), ["-ERR NOT_FOUND no record 'half' in 'p'"])
    }

    func testTokenizerAndReplyEncoding() throws {
        XCTAssertEqual(try LineTokenizer.tokenize(#"SEARCH p TEXT "a \"b\" c" FILTER 'x = ''y''' VECTOR [1, 2]"#),
                       [.word("SEARCH"), .word("p"), .word("TEXT"), .quoted("a \"b\" c"), .word("FILTER"), .quoted("x = "), .quoted("y"), .quoted(""), .word("VECTOR"), .json("[1, 2]")])
        XCTAssertThrowsError(try LineTokenizer.tokenize(#"GET "open"#))
        XCTAssertEqual(try parseNumberArray("[1, 2.5,-3e1 ]"), [1, 2.5, -30])
        XCTAssertEqual(try parseNumberArray("[]"), [])
        for bad in ["[1,,2]", "[1] x", "[1, 1e400]", "[nan]", "1, 2", "[\"1\"]", "[0x10]", "[1,]", "[inf]", "["] {
            XCTAssertThrowsError(try parseNumberArray(bad), bad)
        }
        for tricky in ["[1e-45]", "[3.4028235e38]", "[3.4028236e38]", "[-0]", "[0.0000000000000000000000000001]", "[123456789012345678901234]",
                       "[1.]", "[.5]", "[01]", "[1e]", "[-]", "[1E+2]", "[9007199254740993]", "[0.1e-30]"] {
            // The fast path and strtof agree, or both refuse.
            let viaStrtof: [Float]? = tricky.dropFirst().dropLast().isEmpty ? [] : {
                let body = String(tricky.dropFirst().dropLast())
                var end: UnsafeMutablePointer<CChar>?
                let f = body.withCString { strtof($0, &end) }
                return f.isFinite ? [f] : nil
            }()
            if let mine = try? parseNumberArray(tricky), let viaStrtof {
                XCTAssertEqual(mine.map(\.bitPattern), viaStrtof.map(\.bitPattern), tricky)
            }
        }
        // Long decimals (floats printed through doubles, as numpy and Python send them; random
        // 16-19 digit ones; decimals a hair from a midpoint between two floats) read as strtof
        // reads them, bit for bit.
        var rng = SplitMix(seed: 23)
        var texts: [String] = []
        for _ in 0..<4000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF)
            guard f.isFinite, f > 1e-30, f < 1e30 else { continue }
            texts.append(String(format: "%.17g", Double(f)))
            texts.append(String(format: "%.19g", (Double(f) + Double(f.nextUp)) / 2))
            texts.append(String(format: "%.16e", (Double(f) + Double(f.nextDown)) / 2 * (1 + 1e-15)))
        }
        for _ in 0..<4000 {
            var m = String(rng.next() % 9 + 1)
            for _ in 0..<(15 + Int(rng.next() % 4)) { m += String(rng.next() % 10) }
            texts.append("0.\(m)e\(Int(rng.next() % 60) - 30)")
        }
        texts += ["0.012345678901234567", "-0.98765432109876543", "1.0000000596046448", "1.00000005960464477", "3.4028234663852886e38"]
        let parsed = try parseNumberArray("[" + texts.joined(separator: ",") + "]")
        for (t, f) in zip(texts, parsed) {
            let want = t.withCString { strtof($0, nil) }
            XCTAssertEqual(f.bitPattern, want.bitPattern, t)
        }
        XCTAssertEqual(jsonString("a\"b\\c\n\u{01}é"), #""a\"b\\c\n\u0001é""#)
        XCTAssertEqual(Reply.lines(["{}", "[]"]).encoded, "*2\r\n{}\r\n[]\r\n")
        XCTAssertEqual(Reply.error(code: "X", message: "two\nlines").encoded, "-ERR X two lines\r\n")
    }

    /// The vector parser's fast path (issue #23) gives exactly strtof's Float, bit for bit, on
    /// the numbers clients write: Float and Double shortest forms, fixed decimals, exponents.
    func testVectorNumbersParseExactlyAsStrtof() throws {
        var rng = SplitMix(seed: 23)
        var texts: [String] = []
        for i in 0..<200_000 {
            let x = rng.gaussian() * Float(pow(10, Double(Int(rng.unit() * 12) - 6)))
            switch i % 5 {
            case 0: texts.append("\(x)")                                         // Swift's Float description
            case 1: texts.append("\(Double(x) + Double(rng.unit()) * 1e-9)")     // a Double's 17 digits
            case 2: texts.append(String(format: "%.6f", Double(x)))               // fixed, as printf writes
            case 3: texts.append(String(format: "%.8e", Double(x)))               // exponent form
            default: texts.append(String(format: "%.9g", Double(rng.unit() - 0.5)))
            }
        }
        let parsed = try parseNumberArray("[" + texts.joined(separator: ",") + "]")
        XCTAssertEqual(parsed.count, texts.count)
        var mismatches: [String] = []
        for (t, f) in zip(texts, parsed) {
            let reference = t.withCString { strtof($0, nil) }
            if f.bitPattern != reference.bitPattern { mismatches.append("\(t): \(f) vs strtof \(reference)") }
        }
        XCTAssertEqual(mismatches.prefix(5), [], "\(mismatches.count) of \(texts.count) differ")
    }
}
