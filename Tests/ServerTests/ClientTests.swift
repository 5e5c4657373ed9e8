import Foundation
import NIOCore
import XCTest
import TestSupport
@testable import FragranceClient
import FragranceProtocol
@testable import FragranceServer
@testable import FragranceStore

final class ClientTests: ServerTestCase {

    struct Perfume: Encodable {
        var id: String
        var vector: [Float]
        var family: String
        var year: Int?
    }

    func testTypedCallsAgainstARealServer() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port, connections: 2)
        try await client.ping()
        try await client.createCollection("p", definition: #"{"dimension": 3, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "year", "type": "int"}]}}"#)
        let records = (0..<1200).map { i in
            Perfume(id: "r\(i)", vector: [1, Float(i % 7), Float(i % 11)], family: ["floral", "woody", "citrus"][i % 3], year: i % 5 == 0 ? nil : 1950 + i % 70)
        }
        let written = try await client.upsert("p", records, batchSize: 250)
        XCTAssertEqual(written, .init(inserted: 1200, updated: 0))
        let again = try await client.upsert("p", Array(records.prefix(10)))
        XCTAssertEqual(again, .init(inserted: 0, updated: 10))
        let total = try await client.count("p")
        XCTAssertEqual(total, 1200)
        let woody = try await client.count("p", filter: "family = 'woody'")
        XCTAssertEqual(woody, 400)

        let result = try await client.search("p", vector: [1, 3, 5], filter: "family = 'floral' AND year > 1960", k: 5, explain: true)
        XCTAssertEqual(result.hits.count, 5)
        XCTAssertEqual(result.plan?.exact, true)
        XCTAssertEqual(result.hits.map(\.score), result.hits.map(\.score).sorted(by: >))
        for h in result.hits {
            let record = try await client.get("p", id: h.id)
            XCTAssertEqual(record?["family"]?.string, "floral", "\(String(describing: record))")
            XCTAssertEqual(record?.id, h.id)
        }
        let missing = try await client.get("p", id: "nope")
        XCTAssertNil(missing)
        let deleted = try await client.delete("p", ids: ["r1", "r2", "nope"])
        XCTAssertEqual(deleted, 2)
        await client.close()
    }

    /// Every typed request's line (FragranceProtocol's `Request`, which the client builds all its
    /// lines with) names a command of the table and is read by the real server as meant: ids
    /// with spaces and quotes, a filter with quotes, text with a line break.
    func testEveryRequestLineIsReadByTheServerAsMeant() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port, connections: 1)
        let odd = #"a "quoted" id with spaces"#
        let schema = #"{"dimension": 2, "schema": {"fields": [{"name": "name", "type": "text"}, {"name": "family", "type": "string"}]}}"#
        let steps: [(Request, (Reply) -> Bool)] = [
            (.ping, { $0 == .ok("PONG") }),
            (.create(collection: "p", definition: schema), { if case .ok = $0 { true } else { false } }),
            (.upsert(collection: "p", json: #"[{"id": "a \"quoted\" id with spaces", "vector": [1, 0], "name": "Rose\nOud", "family": "o'neil"}, {"id": "b", "vector": [0, 1], "family": "woody"}]"#),
             { $0 == .ok("inserted=2 updated=0") }),
            (.get(collection: "p", id: odd), { if case .lines(let rows) = $0 { rows.first?.contains(#""family":"o'neil""#) == true } else { false } }),
            (.exists(collection: "p", ids: [odd, "nope", "b"]), { $0 == .lines([#""a \"quoted\" id with spaces""#, #""b""#]) }),
            (.count(collection: "p", filter: #"family = 'o''neil'"#), { $0 == .ok("1") }),
            (.count(collection: "p", filter: nil), { $0 == .ok("2") }),
            (.search(collection: "p", options: { var o = SearchOptions(); o.vector = [1, 0.1]; o.k = 1; o.filter = "family != 'woody'"; return o }()),
             { if case .lines(let rows) = $0 { rows.count == 1 && rows[0].contains("quoted") } else { false } }),
            (.query(collection: "p", text: "rose\noud", options: { var o = SearchOptions(); o.mode = "keyword"; o.raw = true; return o }()),
             { if case .lines(let rows) = $0 { rows.count == 1 } else { false } }),
            (.scroll(collection: "p", options: { var o = SearchOptions(); o.filter = "family != 'woody'"; o.order = "family:desc"; o.limit = 1; o.fields = ["family"]; return o }()),
             { if case .lines(let rows) = $0 { rows.count == 2 && rows[0].contains("o'neil") && rows[1].contains(#""next":null"#) } else { false } }),
            (.facets(collection: "p", fields: ["family"], options: { var o = SearchOptions(); o.facetSize = 1; return o }()),
             { if case .lines(let rows) = $0 { rows.first?.contains(#""others":1"#) == true } else { false } }),
            (.info(section: "stats"), { if case .lines(let rows) = $0 { rows.first?.contains(#""SCROLL""#) == true } else { false } }),
            (.slowlog(count: 1), { if case .lines(let rows) = $0 { rows.first?.contains(#""length""#) == true } else { false } }),
            (.slowlog(count: nil), { if case .ok = $0 { true } else { false } }),
            (.slowlogReset, { if case .ok(let t?) = $0 { t.hasPrefix("reset=") } else { false } }),
            (.clientList, { if case .lines(let rows) = $0 { rows.count == 1 && rows[0].contains(#""last_command":"SLOWLOG""#) } else { false } }),
            (.describe(collection: "p"), { if case .lines(let rows) = $0 { rows.first?.contains(#""name":"p""#) == true } else { false } }),
            (.collections, { if case .lines(let rows) = $0 { rows.count == 1 } else { false } }),
            (.delete(collection: "p", ids: [odd, "nope"]), { $0 == .ok("deleted=1") }),
            (.drop(collection: "p"), { if case .ok = $0 { true } else { false } }),
        ]
        for (request, expected) in steps {
            XCTAssertNotNil(CommandTable.byName[request.command], request.command)
            XCTAssertEqual(try LineTokenizer.tokenize(request.line).first?.text, request.command)
            let reply = try await client.send(request.line)
            XCTAssertTrue(expected(reply), "\(request.line) -> \(reply)")
        }
        await client.close()
    }

    func testServerErrorsBecomeTypedErrors() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port)
        do {
            _ = try await client.count("nope")
            XCTFail("expected an error")
        } catch FragranceClientError.server(let code, let message) {
            XCTAssertEqual(code, .notFound)
            XCTAssertTrue(message.contains("nope"))
        }
        try await client.createCollection("p", definition: #"{"dimension": 2, "schema": {"fields": [{"name": "year", "type": "int"}]}}"#)
        do {
            _ = try await client.count("p", filter: "year >")
            XCTFail("expected an error")
        } catch FragranceClientError.server(let code, _) {
            XCTAssertEqual(code, .badFilter)
        }
        // A pipeline returns each reply, errors included, in order.
        let replies = try await client.pipeline(["PING", "FROB", "COUNT p", #"SEARCH p VECTOR [1]"#])
        XCTAssertEqual(replies[0], .ok("PONG"))
        XCTAssertEqual(replies[2], .ok("0"))
        guard case .error("UNKNOWN_COMMAND", _) = replies[1], case .error("DIM_MISMATCH", _) = replies[3] else {
            return XCTFail("\(replies)")
        }
        await client.close()
    }

    func testReconnectsAfterTheServerClosesAndTimesOutOnASilentServer() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port, connections: 1)
        _ = try await client.send("QUIT")
        try await Task.sleep(for: .milliseconds(100))
        try await client.ping()   // a fresh connection
        await client.close()

        // A listener that accepts connections (the kernel's backlog) but never answers.
        let (fd, silentPort) = loopbackSocket(listening: 4)
        defer { close(fd) }
        let silent = FragranceClient(host: "127.0.0.1", port: silentPort, timeout: .milliseconds(300))
        do {
            try await silent.ping()
            XCTFail("expected a timeout")
        } catch FragranceClientError.timeout {
        }
        await silent.close()
    }

    /// The client splits the byte stream itself: replies that arrive a few bytes at a time,
    /// lines cut anywhere (between CR and LF too), bare LF endings and a long line must come back
    /// whole and in order, one batch after another.
    func testRepliesCutAnywhereInTheStreamAreReassembled() async throws {
        let (fd, scriptedPort) = loopbackSocket(listening: 4)
        defer { close(fd) }
        let long = "{\"text\":\"" + String(repeating: "향", count: 100_000) + "\"}"
        let script = "+OK one\r\n*2\r\n{\"id\":\"a\"}\r\n{\"id\":\"b\"}\n-ERR NOT_FOUND no such record\r\n*0\r\n" +
            "*1\r\n" + long + "\r\n+OK\r\n"
        let server = Thread {
            let conn = accept(fd, nil, nil)
            guard conn >= 0 else { return }
            defer { close(conn) }
            var request = [UInt8](repeating: 0, count: 4096)
            var lines = 0
            while lines < 6, read(conn, &request, 4096) > 0 { lines = 6 }   // the batch, whatever its framing
            let bytes = Array(script.utf8)
            var i = 0, step = 1
            while i < bytes.count {   // 1, 2, 3 … bytes per write, with pauses: every cut happens somewhere
                let n = min(step, bytes.count - i)
                _ = bytes[i..<(i + n)].withUnsafeBytes { write(conn, $0.baseAddress, n) }
                i += n
                step = step % 7 + 1
                if i < 200 { usleep(2_000) } else { step = 65_536 }
            }
            var rest = [UInt8](repeating: 0, count: 16)
            _ = read(conn, &rest, 16)   // until the client closes
        }
        server.start()
        let client = FragranceClient(host: "127.0.0.1", port: scriptedPort, connections: 1, timeout: .seconds(20))
        let replies = try await client.pipeline(["A", "B", "C", "D", "E", "F"])
        await client.close()
        XCTAssertEqual(replies.count, 6)
        XCTAssertEqual(replies[0], .ok("one"))
        XCTAssertEqual(replies[1], .lines([#"{"id":"a"}"#, #"{"id":"b"}"#]))
        XCTAssertEqual(replies[2], .error(code: "NOT_FOUND", message: "no such record"))
        XCTAssertEqual(replies[3], .lines([]))
        XCTAssertEqual(replies[4], .lines([long]))
        XCTAssertEqual(replies[5], .ok(nil))
    }

    struct Stored: Decodable, Equatable { var id: String; var family: String; var year: Int? }

    /// Issue #20: Decodable records and hits that carry them, browse and facets typed, the
    /// collection list and description, INFO, GENERATE, and a code the client does not know kept.
    func testTypedRecordsHitsRecipesAndInfo() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port, connections: 1, timeout: .seconds(60))
        try await client.createCollection("p", definition: #"{"dimension": 2, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "year", "type": "int"}]}}"#)
        // Unused results are fine where reading them is optional (@discardableResult).
        try await client.upsert("p", [Perfume(id: "a", vector: [1, 0], family: "floral", year: 2001), Perfume(id: "b", vector: [0, 1], family: "woody", year: nil)])

        let hits = try await client.search("p", vector: [1, 0.1], k: 2, records: true)
        XCTAssertEqual(hits.hits.map(\.id), ["a", "b"])
        XCTAssertEqual(hits.hits[0].record?["family"]?.string, "floral")
        XCTAssertEqual(hits.hits[0].record?["year"]?.int, 2001)
        XCTAssertEqual(try hits.hits[0].record?.decode(as: Stored.self), Stored(id: "a", family: "floral", year: 2001))
        let cut = try await client.search("p", vector: [1, 0], k: 1, fields: ["year"])
        XCTAssertEqual(cut.hits[0].record?.fields.keys.sorted(), ["year"])

        let page = try await client.scroll("p", order: "id", limit: 1, facets: ["family"])
        XCTAssertEqual(page.records.map(\.id), ["a"])
        XCTAssertEqual(page.count, 2)
        XCTAssertEqual(page.facets?.first?.values?.map(\.value).sorted(), ["floral", "woody"])
        let counts = try await client.facets("p", fields: ["family", "year:10"])
        XCTAssertEqual(counts.count, 2)
        XCTAssertEqual(counts.facets[1].missing, 1)

        let listed = try await client.collections()
        XCTAssertEqual(listed.map(\.name), ["p"])
        XCTAssertEqual(listed[0].records, 2)
        let described = try await client.describe("p")
        XCTAssertEqual(described.fields.map(\.name), ["family", "year"])
        XCTAssertEqual(described.dimension, 2)
        let altered = try await client.alterCollection("p", change: #"{"fields": [{"name": "price", "type": "float"}]}"#)
        XCTAssertTrue(altered.fields.contains { $0.name == "price" && $0.type == "float" })

        let info = try await client.info()
        XCTAssertFalse(info.version.isEmpty)
        XCTAssertGreaterThan(info.sections["memory"]?["rss_bytes"]?.number ?? 0, 0)
        let memory = try await client.info(section: "memory")
        XCTAssertEqual(memory.sections.keys.sorted(), ["memory"])

        do {
            _ = try await client.describe("nope")
            XCTFail("expected NOT_FOUND")
        } catch let e as FragranceClientError {
            XCTAssertEqual(e.code, "NOT_FOUND")
        }
        XCTAssertEqual(FragranceClientError.reply("FROM_THE_FUTURE", "x").code, "FROM_THE_FUTURE")
        await client.close()
    }
}

/// GENERATE through the Swift client, on a whole server with a slice of the catalogue (the
/// recipe generator needs perfumes and materials).
final class ClientRecipeTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        c.loadCatalogue = true
        c.catalogueLimit = 60
    }

    /// GENERATE through the client, on a server with a slice of the catalogue.
    func testGenerateARecipe() async throws {
        let ready = try await self.ready(try client(), within: 300)
        XCTAssertEqual(ready.status, 200, ready.text)
        let client = FragranceClient(host: "127.0.0.1", port: tcpPort, connections: 1, timeout: .seconds(120))
        let r = try await client.generate(RecipeRequest(fragranceFamily: "floral", season: "spring", product: "body_lotion"))
        XCTAssertTrue(r.validation.valid)
        XCTAssertTrue(r.validation.compliant)
        XCTAssertEqual(r.validation.compliance["ifra_category"]?.string, "5A")
        XCTAssertTrue((15...40).contains(r.recipe.ingredients.count), "\(r.recipe.ingredients.count)")
        XCTAssertEqual(r.recipe.ingredients.reduce(0) { $0 + $1.percent }, 100, accuracy: 0.5)
        XCTAssertEqual(r.generator, "composer")
        XCTAssertFalse(r.contextPerfumes.isEmpty)
        do {
            _ = try await client.generate(RecipeRequest(fragranceFamily: "floral", intensity: "deafening"))
            XCTFail("expected BAD_VALUE")
        } catch FragranceClientError.server(let code, _) {
            XCTAssertEqual(code, .badValue)
        }
        await client.close()
    }
}
