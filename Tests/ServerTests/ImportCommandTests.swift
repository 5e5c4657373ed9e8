import Perfumery
import Foundation
import XCTest
import TestSupport
import FragranceClient
@testable import FragranceServer
@testable import FragranceStore

/// `fragrancedb import` as a user runs it: a child process, offline and over TCP.
final class ImportCommandTests: HTTPTestCase {
    func tool() throws -> URL {
        if let url = Repository.builtProduct("fragrancedb") { return url }
        throw XCTSkip("fragrancedb not built next to the tests (run swift build --build-tests first)")
    }

    /// 3,000 rows with 64-d vectors, a few of them bad.
    func writeFixture() throws -> URL {
        var lines: [String] = []
        var rng = SystemRandomNumberGenerator()
        for i in 0..<3000 {
            if i % 997 == 500 { lines.append("{\"id\": \"bad-\(i)\", \"name\": 5}"); continue }
            let v = (0..<64).map { _ in String(format: "%.4f", Float.random(in: -1...1, using: &rng)) }.joined(separator: ",")
            lines.append("{\"id\": \"p\(i)\", \"name\": \"Perfume \(i)\", \"year\": \(1950 + i % 70), \"accords\": [\"woody\"], \"vector\": [\(v)]}")
        }
        let url = dir.appendingPathComponent("fixture.jsonl")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func run(_ args: [String], killAfter: Double? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = try tool()
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        if let killAfter {
            Thread.sleep(forTimeInterval: killAfter)
            kill(p.processIdentifier, SIGKILL)
        }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Issue #19's command-line paper cuts: --version, no database made by a typo, readable errors.
    func testVersionAndReadableCommandLineErrors() throws {
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.out.trimmingCharacters(in: .whitespacesAndNewlines), "fragrancedb \(FragranceVersion.current)")

        let typo = dir.appendingPathComponent("typo-dir").path
        let info = try run(["info", "--data", typo])
        XCTAssertNotEqual(info.status, 0)
        XCTAssertTrue(info.err.contains("no database in '\(typo)'"), info.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: typo), "info made no directory")

        let data = dir.appendingPathComponent("db").path
        try createVectorCollection(at: data)
        let missing = try run(["snapshot", "--data", data, "perfume", dir.appendingPathComponent("x.fdbz").path])
        XCTAssertTrue(missing.err.contains("NOT_FOUND: no collection named 'perfume' (did you mean 'perfumes'?)"), missing.err)
        let unwritable = try run(["snapshot", "--data", data, "perfumes", "/nonexistent-dir/x.fdbz"])
        XCTAssertNotEqual(unwritable.status, 0)
        XCTAssertTrue(unwritable.err.contains("/nonexistent-dir/x.fdbz") && !unwritable.err.contains("NSCocoaErrorDomain"), unwritable.err)
        XCTAssertFalse(unwritable.err.contains("USAGE"), "a failure is not a usage mistake: \(unwritable.err)")
    }

    func createVectorCollection(at path: String) throws {
        let db = try Database(directory: URL(fileURLWithPath: path))
        try db.createCollection(CollectionConfig(name: "perfumes", dimension: 64, schema: .perfume))
        try db.close()
    }

    func contents(_ path: String) throws -> [String: Record] {
        let db = try Database(directory: URL(fileURLWithPath: path))
        defer { try? db.close() }
        let c = try db.collection("perfumes")
        var out: [String: Record] = [:]
        for id in try c.ids(matching: "year > 0") { out[id] = try c.get(id) }
        return out
    }

    func testKilledImportResumesToTheSameContentsAsACleanOne() throws {
        let fixture = try writeFixture()
        let clean = dir.appendingPathComponent("clean").path, killed = dir.appendingPathComponent("killed").path
        try createVectorCollection(at: clean)
        try createVectorCollection(at: killed)
        let a = try run(["import", fixture.path, "--data", clean, "--batch", "50", "--rejects", "clean.rejects.jsonl"])
        XCTAssertEqual(a.status, 2, "rows were rejected: \(a.err)")
        XCTAssertTrue(a.out.contains("2997 stored, 0 already there, 3 rejected"), a.out)
        let rejects = try String(contentsOf: dir.appendingPathComponent("clean.rejects.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rejects.count, 3)
        XCTAssertTrue(rejects[0].contains(#""line":501"#) && rejects[0].contains("'name' must be a string"), String(rejects[0]))

        // Killed part-way (several times), then run to the end: the same records as the clean run.
        for delay in [0.4, 0.7] { _ = try run(["import", fixture.path, "--data", killed, "--batch", "50"], killAfter: delay) }
        let partial = try contents(killed).count
        XCTAssertLessThan(partial, 2997, "the kill came too late to test anything")
        XCTAssertEqual(partial % 50, 0, "only whole batches are stored")
        // The keyword index is written in the records' transactions: after the kills it holds
        // exactly the stored records, so the keyword and vector arms agree.
        let raw = try SQLiteDatabase(path: killed + "/catalog.sqlite")
        var ftsRows = Set<Int64>(), recordRows = Set<Int64>()
        try raw.statement("SELECT rowid FROM \"c_perfumes__fts\"").forEachRow { ftsRows.insert($0.int(0)) }
        try raw.statement("SELECT rid FROM \"c_perfumes__records\"").forEachRow { recordRows.insert($0.int(0)) }
        raw.close()
        XCTAssertEqual(ftsRows, recordRows)
        XCTAssertEqual(ftsRows.count, partial)
        let resumed = try run(["import", fixture.path, "--data", killed, "--batch", "50"])
        XCTAssertEqual(resumed.status, 2)
        XCTAssertTrue(resumed.out.contains("\(2997 - partial) stored, \(partial) already there"), resumed.out)
        XCTAssertEqual(try contents(killed), try contents(clean))

        // And a third run changes nothing.
        let again = try run(["import", fixture.path, "--data", killed, "--batch", "50"])
        XCTAssertTrue(again.out.contains("0 stored, 2997 already there"), again.out)
    }

    /// --m and --ef-construction shape a collection the import creates, offline and over TCP,
    /// and are refused with a clear message for one that exists.
    func testGraphOptionsSetUpANewCollectionOnly() throws {
        var rng = SystemRandomNumberGenerator()
        let lines = (0..<40).map { i in
            let v = (0..<384).map { _ in String(format: "%.4f", Float.random(in: -1...1, using: &rng)) }.joined(separator: ",")
            return "{\"id\": \"g\(i)\", \"name\": \"Perfume \(i)\", \"vector\": [\(v)]}"
        }
        let fixture = dir.appendingPathComponent("graph.jsonl")
        try lines.joined(separator: "\n").write(to: fixture, atomically: true, encoding: .utf8)
        let offline = dir.appendingPathComponent("offline").path
        let made = try run(["import", fixture.path, "--data", offline, "--m", "12", "--ef-construction", "100"])
        XCTAssertEqual(made.status, 0, made.err)
        do {
            let db = try Database(directory: URL(fileURLWithPath: offline))
            let c = try db.collection("perfumes")
            XCTAssertEqual(c.config.hnsw.m, 12)
            XCTAssertEqual(c.config.hnsw.efConstruction, 100)
            XCTAssertEqual(c.count, 40)
            try db.close()
        }
        let clash = try run(["import", fixture.path, "--data", offline, "--ef-construction", "64"])
        XCTAssertNotEqual(clash.status, 0)
        XCTAssertTrue(clash.err.contains("--ef-construction 64: 'perfumes' exists with ef_construction 100"), clash.err)
        let same = try run(["import", fixture.path, "--data", offline, "--m", "12"])
        XCTAssertTrue(same.out.contains("0 stored, 40 already there"), same.out + same.err)

        let tcp = try run(["import", fixture.path, "--server", "127.0.0.1:\(tcpPort)", "--ef-construction", "90"])
        XCTAssertEqual(tcp.status, 0, tcp.err)
        XCTAssertEqual(try server.database.collection("perfumes").config.hnsw.efConstruction, 90)
        let again = try run(["import", fixture.path, "--server", "127.0.0.1:\(tcpPort)", "--ef-construction", "90"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.err.contains("'perfumes' exists on the server"), again.err)
    }

    func testImportOverTCPIntoARunningServer() throws {
        let fixture = try writeFixture()
        let c = try client()
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name": "perfumes", "dimension": 64, "schema": "perfume"}"#).status, 201)
        let r = try run(["import", fixture.path, "--server", "127.0.0.1:\(tcpPort)", "--batch", "200"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.out.contains("2997 stored"), r.out)
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/count").json["count"] as? Int, 2997)
        // The server holds the directory: an offline import is refused with a clear message.
        let offline = try run(["import", fixture.path, "--data", dir.path])
        XCTAssertNotEqual(offline.status, 0)
        XCTAssertTrue(offline.err.contains("is in use by another process"), offline.err)
        let dry = try run(["import", fixture.path, "--dry-run"])
        XCTAssertTrue(dry.out.contains("2997 valid"), dry.out)
    }
}

/// `fragrancedb serve` on an empty directory loads (a slice of) the bundled catalogue.
final class CatalogueTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        c.loadCatalogue = true
        c.catalogueLimit = 150
    }

    func testFirstStartLoadsTheCatalogueThenAnswersRealQueries() async throws {
        let c = try client()
        let first = c.http("GET", "/ready")
        if first.status == 503 { XCTAssertEqual(first.json["status"] as? String, "loading the bundled catalogue") }
        let ready = try await self.ready(c)
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual((ready.json["catalogue"] as? [String: Any])?["phase"] as? String, "done")
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/count").json["count"] as? Int, 150)
        XCTAssertEqual(c.http("POST", "/api/v1/collections/materials/count").json["count"] as? Int, 150)
        let s = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "fresh citrus summer fragrance for men", "top_k": 5, "explain": true}"#)
        let results = s.json["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.count, 5, s.text)
        let records = results.compactMap { $0["record"] as? [String: Any] }
        XCTAssertTrue(records.allSatisfy { $0["name"] != nil && $0["text"] != nil })
        let accords = records.flatMap { $0["accords"] as? [String] ?? [] }
        XCTAssertTrue(accords.contains("citrus") || accords.contains("fresh") || accords.contains("aromatic"), "\(records.map { $0["text"] ?? "" })")
        // The seed's Korean query: spring perfumes with a fresh or floral character, and how it was read.
        let ko = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "상큼하고 로맨틱한 봄 향수", "top_k": 5, "explain": true}"#)
        XCTAssertEqual(ko.status, 200, ko.text)
        let parsed = ko.json["parsed"] as? [String: Any] ?? [:]
        XCTAssertEqual(parsed["language"] as? String, "ko")
        let terms = parsed["terms"] as? [[String: Any]] ?? []
        XCTAssertTrue(terms.contains { $0["meaning"] as? String == "seasons: spring" && $0["filter"] as? String == "seasons CONTAINS 'spring'" }, "\(terms)")
        XCTAssertFalse((parsed["embedded_text"] as? String ?? "").contains("봄"))
        let koRecords = (ko.json["results"] as? [[String: Any]] ?? []).compactMap { $0["record"] as? [String: Any] }
        XCTAssertEqual(koRecords.count, 5)
        for r in koRecords {
            XCTAssertTrue((r["seasons"] as? [String] ?? []).contains("spring"), "\(r["name"] ?? "") \(r["seasons"] ?? "")")
            let character = Set((r["accords"] as? [String] ?? []) + (r["families"] as? [String] ?? []))
            XCTAssertFalse(character.isDisjoint(with: ["fresh", "citrus", "floral", "white floral", "fruity", "green", "rose"]), "\(r["name"] ?? "") \(character)")
        }
        // The same over TCP: QUERY understands, fuses and explains.
        let t = try TestClient(port: tcpPort)
        let lines = t.call(#"QUERY perfumes "상큼하고 로맨틱한 봄 향수" K 3 EXPLAIN"#)
        XCTAssertEqual(lines.first, "*4", "\(lines)")
        XCTAssertTrue(lines.dropFirst().first?.contains(#""matched_preferences":["#) ?? false, "\(lines)")
        XCTAssertTrue(lines.last?.contains(#""meaning":"seasons: spring""#) ?? false, "\(lines)")
        XCTAssertTrue(t.call(#"QUERY perfumes "rose" MODE magic"#).first?.hasPrefix("-ERR BAD_VALUE") ?? false)
        XCTAssertTrue(t.call("QUERY perfumes").first?.hasPrefix("-ERR SYNTAX") ?? false)
        // And from the Swift client library.
        let client = FragranceClient(host: "127.0.0.1", port: tcpPort)
        let answer = try await client.query("perfumes", "상큼하고 로맨틱한 봄 향수", k: 3, explain: true)
        await client.close()
        XCTAssertEqual(answer.hits.count, 3)
        XCTAssertTrue(answer.hits[0].matchedPreferences.contains("seasons: spring"), "\(answer.hits)")
        XCTAssertNotNil(answer.hits[0].vectorRank)
        XCTAssertTrue(answer.explanation?.contains(#""language":"ko""#) ?? false, answer.explanation ?? "")
        // Observed-only filtering works on the provenance flags.
        let observed = c.http("POST", "/api/v1/collections/perfumes/count", json: #"{"filter": "seasons_origin = 'observed'"}"#).json["count"] as? Int ?? -1
        let derived = c.http("POST", "/api/v1/collections/perfumes/count", json: #"{"filter": "seasons_origin = 'derived'"}"#).json["count"] as? Int ?? -1
        XCTAssertGreaterThan(derived, 0)
        XCTAssertGreaterThanOrEqual(observed, 0)
    }

    func testRecipesFromTheCatalogueOverHTTPAndTCP() async throws {
        let c = try client()
        for _ in 0..<600 where c.http("GET", "/ready").status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        let seed = #"{"fragrance_family": "floral", "mood": "romantic", "intensity": "moderate", "gender": "feminine", "season": "spring"}"#
        let r = c.http("POST", "/api/v1/generate/recipe", json: seed)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json["generator"] as? String, "composer")
        XCTAssertEqual((r.json["validation"] as? [String: Any])?["valid"] as? Bool, true, r.text)
        let recipe = try XCTUnwrap(r.json["recipe"] as? [String: Any])
        XCTAssertEqual(recipe["concentration"] as? String, "EdP")
        let all = ["top", "heart", "base"].flatMap { recipe[$0] as? [[String: Any]] ?? [] }
        XCTAssertEqual(all.reduce(0) { $0 + ($1["percent"] as? Double ?? 0) }, 100, accuracy: 0.001)
        XCTAssertFalse((r.json["context_perfumes"] as? [String] ?? []).isEmpty, "the recipe cites the perfumes it was built from")
        XCTAssertEqual(c.http("POST", "/api/v1/generate/recipe", json: seed).json["recipe"] as? NSDictionary, recipe as NSDictionary, "deterministic")

        // A Korean brief is understood: its season and family steer retrieval (a raw brief has no filter).
        let ko = c.http("POST", "/api/v1/generate/recipe", json: #"{"brief": "상큼한 봄 플로럴 향수"}"#)
        XCTAssertEqual(ko.status, 200, ko.text)
        let koFilter = (ko.json["retrieval"] as? [String: Any])?["filter"] as? String ?? ""
        XCTAssertTrue(koFilter.contains("floral") || koFilter.contains("spring"), ko.text)

        let bad = c.http("POST", "/api/v1/generate/recipe", json: #"{"fragrance_family": "floral", "intensity": "extreme"}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual((bad.json["error"] as? [String: Any])?["field"] as? String, "intensity")
        let batch = c.http("POST", "/api/v1/generate/batch", json: #"{"requests": [{"fragrance_family": "woody"}, {"colour": "red"}, {"brief": "a fresh citrus cologne"}]}"#)
        let results = batch.json["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.count, 3, batch.text)
        XCTAssertNotNil(results[0]["recipe"])
        XCTAssertEqual((results[1]["error"] as? [String: Any])?["code"] as? String, "UNKNOWN_FIELD", "one bad item, not all-or-nothing")
        XCTAssertNotNil(results[2]["recipe"])

        // The reply declares allergens and says what the product is; the recipe validates as written.
        let validation = try XCTUnwrap(r.json["validation"] as? [String: Any])
        XCTAssertFalse((validation["allergens"] as? [[String: Any]] ?? []).isEmpty, r.text)
        XCTAssertEqual(((validation["compliance"] as? [String: Any])?["product"] as? [String: Any])?["ifra_category"] as? String, "4")
        XCTAssertGreaterThanOrEqual((validation["composition"] as? [String: Any])?["aroma_chemicals_percent"] as? Double ?? 0, 60)
        let again = c.http("POST", "/api/v1/recipes/validate", json: String(decoding: try JSONSerialization.data(withJSONObject: recipe), as: UTF8.self))
        XCTAssertEqual((again.json["validation"] as? [String: Any])?["valid"] as? Bool, true, again.text)
        // Another product: a body lotion (category 5A) at its usual share, in a lotion base.
        let lotion = c.http("POST", "/api/v1/generate/recipe", json: #"{"fragrance_family": "floral", "product": "body lotion"}"#)
        XCTAssertEqual(((lotion.json["recipe"] as? [String: Any])?["product"] as? [String: Any])?["ifra_category"] as? String, "5A", lotion.text)
        XCTAssertEqual(((lotion.json["recipe"] as? [String: Any])?["carrier"] as? [[String: Any]])?.first?["name"] as? String, "lotion base")

        // A person's formula: bergamot oil at 10% of an EdP concentrate is 1.6% of the product, over IFRA's 0.4%.
        let mine = #"{"concentration": "EdP", "top": [{"name": "Bergamot oil", "percent": 10}], "heart": [{"material_id": "8007-01-0", "percent": 50}], "base": [{"name": "Sandalwood oil", "percent": 40}]}"#
        let v = c.http("POST", "/api/v1/recipes/validate", json: mine)
        let report = try XCTUnwrap(v.json["validation"] as? [String: Any], v.text)
        XCTAssertEqual(report["valid"] as? Bool, false)
        let breach = try XCTUnwrap((report["compliance"] as? [String: Any])?["breaches"] as? [[String: Any]]).first { $0["substance"] as? String == "Bergamot oil expressed" }
        XCTAssertEqual(breach?["code"] as? String, "IFRA_LIMIT", v.text)
        XCTAssertEqual(breach?["limit"] as? Double, 0.4)

        // Substitutes: the same operation on both protocols.
        let body = #"{"material": "Coumarin", "product": "body_lotion", "limit": 4}"#
        let subs = c.http("POST", "/api/v1/recipes/substitutes", json: body)
        XCTAssertEqual(subs.status, 200, subs.text)
        XCTAssertEqual((subs.json["substitutes"] as? [[String: Any]])?.count, 4, subs.text)
        XCTAssertNotNil((subs.json["material"] as? [String: Any])?["legal_max_percent"] as? Double, "coumarin is restricted in a lotion")

        let t = try TestClient(port: tcpPort)
        let line = t.call("GENERATE " + seed)
        XCTAssertEqual(line.first, "*1", "\(line)")
        XCTAssertTrue(line.last?.contains(#""generator":"composer""#) ?? false)
        XCTAssertTrue(t.call(#"GENERATE {"fragrance_family": 5}"#).first?.hasPrefix("-ERR BAD_TYPE") ?? false)
        let tcpSubs = t.call("SUBSTITUTES " + body)
        XCTAssertEqual(tcpSubs.first, "*1")
        let decoded = try JSONSerialization.jsonObject(with: Data((tcpSubs.last ?? "").utf8)) as? NSDictionary
        XCTAssertEqual(decoded, subs.json as NSDictionary, "SUBSTITUTES answers what POST /api/v1/recipes/substitutes does")
    }

    func testARestartDoesNotLoadAgain() async throws {
        let c = try client()
        // The first load must finish before the restart, or there is nothing to "not redo":
        // on a loaded two-core machine the 300-record slice has taken over a minute in debug.
        var first = c.http("GET", "/ready")
        for _ in 0..<3000 where first.status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            first = c.http("GET", "/ready")
        }
        XCTAssertEqual(first.status, 200, "the first load did not finish in 5 minutes: \(first.text)")
        await server.shutdown()
        try await running.value
        var config = server.configuration
        config.catalogueLimit = 300
        try await start(config)
        let ready = try client().http("GET", "/ready")
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual(try client().http("POST", "/api/v1/collections/perfumes/count").json["count"] as? Int, 150, "a finished load is not redone")
    }
}
