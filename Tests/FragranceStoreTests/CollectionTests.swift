import Perfumery
import Synchronization
import XCTest
import TestSupport
@testable import FragranceStore
import HNSW
import CKernels

final class CollectionTests: XCTestCase {
    let dim = 16
    var dir: URL!

    override func setUp() { dir = temporaryDirectory(name) }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func open() throws -> Database { try Database(directory: dir) }

    func testCreateListDropAndNameErrors() throws {
        let db = try open()
        try db.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try db.createCollection(CollectionConfig(name: "materials-v2", dimension: 8, metric: .l2, schema: CollectionSchema(fields: [FieldSchema("cas", .string)])))
        XCTAssertEqual(db.collectionNames, ["materials-v2", "perfumes"])
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .alreadyExists)
        }
        for bad in ["", "a b", "x;drop", String(repeating: "a", count: 65)] {
            XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: bad, dimension: dim, schema: .perfume)), bad)
        }
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "z", dimension: 0, schema: .perfume)))
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "z", dimension: 4, schema: CollectionSchema(fields: [FieldSchema("id", .string)])))) {
            XCTAssertTrue(($0 as? StoreError)?.message.contains("reserved") ?? false)
        }
        try db.collection("perfumes").upsert(Synthetic.records(count: 10, dim: dim))
        try db.dropCollection("perfumes")
        XCTAssertEqual(db.collectionNames, ["materials-v2"])
        XCTAssertThrowsError(try db.collection("perfumes")) { XCTAssertEqual(($0 as? StoreError)?.code, .notFound) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("perfumes.hnsw").path))
        try db.close()

        let again = try open()
        XCTAssertEqual(again.collectionNames, ["materials-v2"])
        let c = try again.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        XCTAssertEqual(c.count, 0, "a re-created collection starts empty")
    }

    func testUpsertGetDeleteCountAndReplaceById() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let records = Synthetic.records(count: 200, dim: dim)
        let r = try c.upsert(records)
        XCTAssertEqual(r, Collection.WriteResult(inserted: 200, updated: 0, deleted: 0))
        XCTAssertEqual(c.count, 200)
        XCTAssertEqual(try c.get("p7"), records[7])
        XCTAssertNil(try c.get("nope"))

        var changed = records[7]
        changed.attributes["family"] = .string("woody")
        changed.attributes["seasons"] = .strings(["winter"])
        changed.vector = records[8].vector
        XCTAssertEqual(try c.upsert([changed]).updated, 1)
        XCTAssertEqual(c.count, 200)
        XCTAssertEqual(try c.get("p7"), changed)
        XCTAssertTrue(try c.ids(matching: "seasons CONTAINS 'winter' AND family = 'woody'").contains("p7"))
        let near = try c.search(SearchRequest(vector: records[8].vector!, k: 2, exact: true))
        XCTAssertEqual(Set(near.hits.map(\.id)), ["p7", "p8"])

        XCTAssertEqual(try c.delete(["p7", "p9", "p9", "unknown"]), 2)
        XCTAssertEqual(c.count, 198)
        XCTAssertNil(try c.get("p7"))
        XCTAssertFalse(try c.search(SearchRequest(vector: records[8].vector!, k: 5)).hits.contains { $0.id == "p7" })
        XCTAssertEqual(try c.count(filter: "year > 0"), records.filter { $0.id != "p7" && $0.id != "p9" && $0.attributes["year"] != nil }.count)

        // The same id twice in a batch: the last one wins.
        var a = records[0], b = records[0]
        a.attributes["brand"] = .string("First")
        b.attributes["brand"] = .string("Second")
        XCTAssertEqual(try c.upsert([a, b]), Collection.WriteResult(inserted: 0, updated: 2, deleted: 0))
        XCTAssertEqual(try c.get("p0")?.attributes["brand"], .string("Second"))
    }

    /// Data directories written before the record-keyed layout (set tables keyed by value, an
    /// index per scalar column) are rebuilt on open with every row kept.
    func testTablesInTheValueKeyedLayoutAreRebuiltOnOpenWithEveryRow() throws {
        let records = Synthetic.records(count: 300, dim: dim)
        var db: Database? = try open()
        let created = try db!.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        try created.upsert(records)
        let stored = try created.records(records.map(\.id), includeVector: true)
        try db!.close()
        db = nil

        // Put the tables back the way the older version wrote them.
        let path = dir.appendingPathComponent("catalog.sqlite").path
        var sql: SQLiteDatabase? = try SQLiteDatabase(path: path)
        let t = Tables(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        func names() throws -> [String: String] {
            var out: [String: String] = [:]
            try sql!.statement("SELECT name, sql FROM sqlite_master WHERE name LIKE 'c_p__%'").forEachRow { out[$0.text(0)!] = $0.text(1) ?? "" }
            return out
        }
        try sql!.transaction {
            for f in t.setFields {
                let tiered = f.type == .tieredSet
                let cols = tiered ? "value, rid, tier, ord" : "value, rid, ord"
                try sql!.execute("ALTER TABLE \(t.set(f.name)) RENAME TO legacy")
                try sql!.execute("CREATE TABLE \(t.set(f.name))(value TEXT NOT NULL, rid INTEGER NOT NULL\(tiered ? ", tier TEXT NOT NULL" : ""), ord INTEGER NOT NULL, PRIMARY KEY(value, rid\(tiered ? ", tier" : ""))) WITHOUT ROWID")
                try sql!.execute("CREATE INDEX \"c_p__set_\(f.name)_by_rid\" ON \(t.set(f.name))(rid)")
                try sql!.execute("INSERT INTO \(t.set(f.name))(\(cols)) SELECT \(cols) FROM legacy")
                try sql!.execute("DROP TABLE legacy")
            }
            for f in t.scalarFields where f.type != .text {
                try sql!.execute("CREATE INDEX \"c_p__by_\(f.name)\" ON \(t.records)(\(Tables.column(f.name)))")
            }
            // and from before the migration ledger.
            try sql!.execute("DELETE FROM migrations")
        }
        try sql!.execute("PRAGMA user_version = 0")
        var before = try names()
        XCTAssertNotNil(before["c_p__set_notes_by_rid"])
        XCTAssertNotNil(before["c_p__by_year"])
        XCTAssertEqual(t.upgradeStatements(before).filter { $0.hasPrefix("INSERT") }.count, t.setFields.count)
        sql!.close()

        db = try open()
        let c = try db!.collection("p")
        let reread = try c.records(records.map(\.id), includeVector: true)
        XCTAssertEqual(reread.compactMap { $0 }.count, records.count)
        XCTAssertTrue(reread == stored, "every record reads back as it was stored")
        XCTAssertEqual(Set(try c.ids(matching: "notes.top CONTAINS 'Note 3'")), Set(records.filter {
            if case .tiered(let tiers) = $0.attributes["notes"] { return tiers["top"]?.contains("Note 3") ?? false } else { return false }
        }.map(\.id)))
        var changed = records[5]
        changed.attributes["seasons"] = .strings(["winter", "fall"])
        try c.upsert([changed])
        XCTAssertEqual(try c.get("p5"), changed)
        try db!.close()
        db = nil

        sql = try SQLiteDatabase(path: path)
        before = try names()
        XCTAssertNil(before["c_p__set_notes_by_rid"])
        XCTAssertNil(before["c_p__by_year"])
        XCTAssertTrue(before["c_p__set_notes"]!.contains("PRIMARY KEY(rid, tier, ord)"), before["c_p__set_notes"]!)
        XCTAssertEqual(t.upgradeStatements(before), [], "nothing left to upgrade")
        sql!.close()
        XCTAssertEqual(try open().collection("p").get("p5"), changed)
    }

    func testRepeatedFiltersSeeEveryWrite() throws {
        let c = try open().createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let records = Synthetic.records(count: 100, dim: dim)
        try c.upsert(records)
        let filter = "family = 'chypre' AND year >= 1950"
        let before = try c.count(filter: filter)
        XCTAssertEqual(try c.count(filter: filter), before, "a cached answer")
        var r = records[0]
        r.id = "new"
        r.attributes["family"] = .string("Chypre")
        r.attributes["year"] = .int(2000)
        try c.upsert([r])
        XCTAssertEqual(try c.count(filter: filter), before + 1, "an insert invalidates cached filters")
        XCTAssertTrue(try c.search(SearchRequest(vector: r.vector!, k: 1, filter: filter)).hits.map(\.id) == ["new"])
        r.attributes["family"] = .string("woody")
        try c.upsert([r])
        XCTAssertEqual(try c.count(filter: filter), before, "an update invalidates cached filters")
        let victim = try c.ids(matching: filter).first!
        try c.delete([victim])
        XCTAssertEqual(try c.count(filter: filter), before - 1, "a delete invalidates cached filters")
        XCTAssertFalse(try c.ids(matching: filter).contains(victim))
    }

    func testValuesAreNormalisedOnTheWayIn() throws {
        let c = try open().createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
        try c.upsert([Record(id: "x", vector: [1, 0], attributes: [
            "seasons": .strings([" Spring", "spring ", "SUMMER"]),
            "rating": .int(4), "year": .float(2001),
            "notes": .tiered(["top": ["Bergamot", " bergamot"], "base": []]),
        ])])
        XCTAssertEqual(try c.get("x")?.attributes, [
            "seasons": .strings(["Spring", "SUMMER"]), "rating": .float(4), "year": .int(2001), "notes": .tiered(["top": ["Bergamot"]]),
        ])
        XCTAssertEqual(try c.count(filter: "seasons CONTAINS 'summer'"), 1)
    }

    /// The importer's records come already normalised by the preset schema: stored as they are
    /// when it is the collection's schema, normalised again when it is not, and still held to
    /// the collection's dimension and need of a vector.
    func testRecordsNormalisedByTheImporterAreStoredAsANormalOneWouldBe() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
        let raw = Record(id: "x", vector: [1, 0], attributes: ["seasons": .strings([" Spring", "spring "]), "rating": .int(4)])
        let ready = try CollectionSchema.perfume.normalised(raw, dimension: 2)
        XCTAssertEqual(ready.attributes, ["seasons": .strings(["Spring"]), "rating": .float(4)])
        try c.upsert([ready], normalisedWith: .perfume)
        XCTAssertEqual(try c.get("x"), ready)

        var other = CollectionSchema.perfume
        other.fields.removeAll { $0.name == "rating" }
        try c.upsert([raw], normalisedWith: other)   // not the collection's schema: normalised again
        XCTAssertEqual(try c.get("x"), ready)

        XCTAssertThrowsError(try c.upsert([Record(id: "y", vector: [1, 0, 0])], normalisedWith: .perfume)) {
            XCTAssertEqual(($0 as? StoreError)?.code, .dimensionMismatch)
        }
        XCTAssertThrowsError(try c.upsert([Record(id: "y")], normalisedWith: .perfume)) {
            XCTAssertTrue("\($0)".contains("no vector"), "\($0)")
        }
        XCTAssertNil(try c.get("y"))
    }

    /// Long member lists keep every member in order, in memory and after a reopen.
    func testLongMemberListsAreStoredWhole() throws {
        let accords = (0..<70).map { "accord \($0)" }
        let notes = ["top": (0..<33).map { "top \($0)" }, "base": ["musk"]]
        let r = Record(id: "long", vector: [1, 0], attributes: ["accords": .strings(accords), "notes": .tiered(notes)])
        var db: Database? = try open()
        try db!.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume)).upsert([r, Record(id: "short", vector: [0, 1], attributes: ["accords": .strings(["woody"])])])
        XCTAssertEqual(try db!.collection("p").get("long"), r)
        try db!.close()
        db = try open()
        XCTAssertEqual(try db!.collection("p").get("long"), r)
        XCTAssertEqual(try db!.collection("p").ids(matching: "accords CONTAINS 'accord 69' AND notes.top CONTAINS 'top 32'"), ["long"])
    }

    func testABadRecordRejectsTheWholeBatchAndSaysWhy() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let good = Synthetic.records(count: 20, dim: dim)
        try c.upsert(Array(good.prefix(10)))
        let cases: [(Record, StoreError.Code, String)] = [
            (Record(id: "v", vector: [1, 2]), .dimensionMismatch, "2 dimensions, collection has 16"),
            (Record(id: "n"), .badRecord, "no vector"),
            (Record(id: "", vector: good[0].vector), .badRecord, "id"),
            (Record(id: "nan", vector: [Float.nan] + Array(repeating: 0, count: dim - 1)), .badRecord, "NaN"),
            (Record(id: "f", vector: good[0].vector, attributes: ["colour": .string("red")]), .badRecord, "unknown field 'colour'"),
            (Record(id: "t", vector: good[0].vector, attributes: ["year": .string("1990")]), .badRecord, "'year' must be an integer"),
            (Record(id: "s", vector: good[0].vector, attributes: ["seasons": .strings(["monsoon"])]), .badRecord, "'monsoon' is not a valid seasons"),
            (Record(id: "g", vector: good[0].vector, attributes: ["notes": .tiered(["middle": ["rose"]])]), .badRecord, "unknown tier 'middle'"),
        ]
        for (bad, code, text) in cases {
            XCTAssertThrowsError(try c.upsert(Array(good.suffix(10)) + [bad])) { error in
                let e = error as? StoreError
                XCTAssertEqual(e?.code, code, "\(error)")
                XCTAssertTrue(e?.message.contains(text) ?? false, "'\(e?.message ?? "")' should mention \(text)")
            }
            XCTAssertEqual(c.count, 10, "nothing of a rejected batch is stored")
            XCTAssertNil(try c.get("p15"))
        }
        try db.close()
        XCTAssertEqual(try open().collection("p").count, 10)
    }

    /// A large write builds the graph while SQLite commits: when the transaction fails the
    /// graph is read back as it stood, so search never sees a record that is not stored, and
    /// the same batch goes in cleanly afterwards.
    func testAFailedTransactionLeavesTheGraphAsItStood() throws {
        var options = Database.Options()
        options.checkpointEvery = 1_000_000
        let records = Synthetic.records(count: 400, dim: dim)
        let db = try Database(directory: dir, options: options)
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        try c.upsert(Array(records.prefix(200)))
        try c.checkpoint()                              // the index file holds these 200,
        try c.upsert(Array(records[200..<300]))         // the log these 100
        var moved = Array(records[0..<10])              // replacements of stored records
        for i in moved.indices { moved[i].vector = records[380 + i].vector }
        var boom = records[399]
        boom.id = "boom"
        let batch = Array(records[300..<340]) + moved + [boom]
        XCTAssertGreaterThanOrEqual(batch.count, Collection.overlapMinimum, "the overlapped path runs")
        try db.sql.execute("CREATE TRIGGER fail_boom BEFORE INSERT ON \(c.tables.records) WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        XCTAssertThrowsError(try c.upsert(batch)) { XCTAssertTrue("\($0)".contains("injected failure"), "\($0)") }

        XCTAssertEqual(c.count, 300)
        XCTAssertEqual(c.index.liveCount, 300, "the graph holds the stored records only")
        for r in records.prefix(300) {
            let top = try c.search(SearchRequest(vector: r.vector!, k: 1)).hits.first
            XCTAssertEqual(top?.id, r.id, "stored \(r.id) is found by its own vector")
            XCTAssertEqual(top?.distance ?? 1, 0, accuracy: 1e-5)
        }
        for r in records[300..<340] {
            XCTAssertFalse(try c.search(SearchRequest(vector: r.vector!, k: 5)).hits.contains { Int($0.id.dropFirst())! >= 300 },
                           "nothing of the failed batch is searchable")
        }

        try db.sql.execute("DROP TRIGGER fail_boom")
        let result = try c.upsert(batch)
        XCTAssertEqual(result, .init(inserted: 41, updated: 10))
        for r in Array(records[300..<340]) + moved + [boom] {
            XCTAssertEqual(try c.search(SearchRequest(vector: r.vector!, k: 1)).hits.first?.id, r.id)
        }
        try db.close()
        let reopened = try Database(directory: dir, options: options).collection("p")
        XCTAssertEqual(reopened.count, 341)
        XCTAssertEqual(try reopened.search(SearchRequest(vector: boom.vector!, k: 1)).hits.first?.id, "boom")
    }

    func testReopenLoadsTheIndexFileAndCatchesUpFromTheLog() throws {
        var options = Database.Options()
        options.checkpointEvery = 1_000_000
        let records = Synthetic.records(count: 600, dim: dim)
        do {
            let db = try Database(directory: dir, options: options)
            let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
            try c.upsert(Array(records.prefix(500)))
            try db.close()   // saves the index file, trims the log
        }
        do {
            let db = try Database(directory: dir, options: options)
            let c = try db.collection("p")
            XCTAssertEqual(c.openReport, .init(source: .loaded, replayedOperations: 0, rebuildReason: nil))
            try c.upsert(Array(records.suffix(100)))
            try c.delete(["p1", "p2"])
            // No close: the index file on disk is now 102 operations behind.
        }
        let db = try Database(directory: dir, options: options)
        let c = try db.collection("p")
        XCTAssertEqual(c.openReport.source, .loaded)
        XCTAssertEqual(c.openReport.replayedOperations, 102)
        XCTAssertEqual(c.count, 598)
        let hits = try c.search(SearchRequest(vector: records[550].vector!, k: 1))
        XCTAssertEqual(hits.hits.first?.id, "p550")
        XCTAssertFalse(try c.search(SearchRequest(vector: records[1].vector!, k: 10)).hits.contains { $0.id == "p1" })
    }

    /// Rows in the collection's operation log (what a reopen would replay from the floor).
    private func logRows(_ c: Collection) throws -> Int64 {
        var n: Int64 = -1
        try c.db.sql.statement("SELECT count(*) FROM \(c.tables.log)").forEachRow { n = $0.int(0) }
        return n
    }

    /// Periodic saves run off the write lock; whatever one has saved, the file, the trimmed log
    /// and a reopen without close agree, and nothing written meanwhile is lost.
    func testPeriodicSavesInTheBackgroundKeepFileAndLogInStep() throws {
        var options = Database.Options()
        options.checkpointEvery = 100
        let records = Synthetic.records(count: 400, dim: dim)
        do {
            let db = try Database(directory: dir, options: options)
            let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
            for start in stride(from: 0, to: 350, by: 50) {
                try c.upsert(Array(records[start..<start + 50]))
                XCTAssertEqual(try c.search(SearchRequest(vector: records[start].vector!, k: 1)).hits.first?.id, "p\(start)")
            }
            try c.lock.write { c.waitForSave() }
            let unsaved = c.stats.unsavedOperations
            XCTAssertGreaterThan(c.savedSeq, 0, "a periodic save ran")
            XCTAssertLessThan(unsaved, 350)
            var floor: Int64 = -1
            try db.sql.statement("SELECT log_floor FROM collections WHERE name = 'p'").forEachRow { floor = $0.int(0) }
            XCTAssertEqual(try logRows(c), unsaved, "the log holds exactly what the file lacks")
            XCTAssertEqual(floor, c.savedSeq)
            try c.checkpoint()
            XCTAssertEqual(c.stats.unsavedOperations, 0)
            try c.upsert(Array(records[350...]))
            try c.delete(["p3"])
            // 51 operations, under the interval, and no close: the next open replays them.
        }
        let c = try Database(directory: dir, options: options).collection("p")
        XCTAssertEqual(c.openReport.source, .loaded)
        XCTAssertEqual(c.openReport.replayedOperations, 51)
        XCTAssertEqual(c.count, 399)
        for i in [0, 120, 260, 349, 350, 399] {
            XCTAssertEqual(try c.search(SearchRequest(vector: records[i].vector!, k: 1)).hits.first?.id, "p\(i)")
        }
        XCTAssertFalse(try c.search(SearchRequest(vector: records[3].vector!, k: 10)).hits.contains { $0.id == "p3" })
    }

    /// A periodic save that cannot write says why in the stats, keeps the whole log, and clears
    /// once a save succeeds; no write fails because of it.
    func testAFailingBackgroundSaveIsReportedAndRetried() throws {
        var options = Database.Options()
        options.checkpointEvery = 50
        let records = Synthetic.records(count: 200, dim: dim)
        let db = try Database(directory: dir, options: options)
        defer { try? db.close() }
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let blocker = dir.appendingPathComponent("p.hnsw.tmp")   // the save's temp file cannot be created
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: true)
        try c.upsert(Array(records[0..<60]))
        try c.lock.write { c.waitForSave() }
        XCTAssertNotNil(c.stats.indexSaveError)
        XCTAssertEqual(try logRows(c), 60, "nothing was trimmed")
        XCTAssertEqual(c.stats.unsavedOperations, 60)
        XCTAssertEqual(c.count, 60)
        try FileManager.default.removeItem(at: blocker)
        try c.upsert(Array(records[60..<120]))
        try c.lock.write { c.waitForSave() }
        XCTAssertNil(c.stats.indexSaveError)
        XCTAssertEqual(c.stats.unsavedOperations, 0)
        XCTAssertEqual(try c.search(SearchRequest(vector: records[100].vector!, k: 1)).hits.first?.id, "p100")
    }

    /// A save streams the graph's arrays into the file (no graph-sized copy in memory): the
    /// payload is byte for byte the in-memory image, and its checksum the one-shot algorithm's
    /// over any split of the bytes, with values fixed by the files written before streaming.
    func testIndexFilesAreStreamedAsTheImageWithTheSameChecksum() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        try c.upsert(Synthetic.records(count: 500, dim: dim))
        try c.delete(["p7", "p9"])
        try c.checkpoint()
        let file = try [UInt8](Data(contentsOf: dir.appendingPathComponent("p.hnsw")))
        let payload = Array(file[32...])
        XCTAssertTrue(payload == c.lock.read { c.index.serialized() }, "the streamed payload is the image")
        XCTAssertEqual(payload.count, c.lock.read { c.index.imageBytes })
        let stored = file[24..<32].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        XCTAssertEqual(stored, payload.withUnsafeBytes { IndexFile.checksum($0) })
        var rng = SplitMix(seed: 5)
        for _ in 0..<20 {
            var sum = StreamChecksum(), at = 0
            while at < payload.count {
                let n = min(payload.count - at, Int(rng.next() % 97))
                payload[at..<at + n].withUnsafeBytes { sum.update($0) }
                at += n
            }
            XCTAssertEqual(sum.finish(), stored)
        }
        // Values of the checksum as files written before streaming carry them.
        XCTAssertEqual(Array(UInt8(0)..<100).withUnsafeBytes { IndexFile.checksum($0) }, 0xb657fa7caea91f36)
        XCTAssertEqual((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }.withUnsafeBytes { IndexFile.checksum($0) }, 0x9d849f959cd763af)
        try db.close()
        XCTAssertEqual(try open().collection("p").openReport.source, .loaded)
    }

    /// Searching through floats, construction's int8 codes go once writes pause and come back
    /// with the next write; searching through codes (the default), they stay.
    func testGraphCodesAreDroppedWhenWritesPauseAndRemadeByTheNextWrite() throws {
        try XCTSkipUnless(fdb_q8_supported() != 0, "this CPU has no AVX-512 VNNI: the graph has no codes")
        var options = Database.Options()
        options.searchWithCodes = false   // the lean mode: floats only while nothing is written
        options.codeReleaseDelay = 0.2
        let db = try Database(directory: dir, options: options)
        defer { try? db.close() }
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let records = Synthetic.records(count: 300, dim: dim)
        try c.upsert(Array(records[0..<200]))
        XCTAssertTrue(c.lock.read { c.index.hasCodes })
        let deadline = Date().addingTimeInterval(10)
        while c.lock.read({ c.index.hasCodes }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(c.lock.read { c.index.hasCodes }, "dropped once writes paused")
        XCTAssertEqual(c.lock.read { c.index.memoryUse.codes }, 0)
        XCTAssertEqual(try c.search(SearchRequest(vector: records[150].vector!, k: 1)).hits.first?.id, "p150")
        try c.upsert(Array(records[200...]))
        XCTAssertTrue(c.lock.read { c.index.hasCodes }, "the next write made them again")
        XCTAssertEqual(try c.search(SearchRequest(vector: records[250].vector!, k: 1)).hits.first?.id, "p250")

        let fast = try Database(directory: temporaryDirectory(name + "-codes"))
        defer { try? fast.close() }
        let f = try fast.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        try f.upsert(records)
        Thread.sleep(forTimeInterval: 2.5)   // past the default delay
        XCTAssertTrue(f.lock.read { f.index.hasCodes && f.index.searchesWithCodes }, "searches need them")
    }

    func testTornStaleOrForeignIndexFilesAreRebuiltNotTrusted() throws {
        let records = Synthetic.records(count: 300, dim: dim)
        do {
            let db = try open()
            try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume)).upsert(records)
            try db.close()
        }
        let file = dir.appendingPathComponent("p.hnsw")
        let good = try Data(contentsOf: file)
        let damage: [(String, (Data) -> Data)] = [
            ("truncated", { $0.prefix($0.count / 2) }),
            ("one byte flipped", { var d = $0; d[d.count / 2] ^= 0x40; return d }),
            ("empty", { _ in Data() }),
            ("garbage", { _ in Data((0..<5000).map { UInt8($0 % 251) }) }),
        ]
        for (what, mutate) in damage {
            try mutate(good).write(to: file)
            let db = try open()
            let c = try db.collection("p")
            XCTAssertEqual(c.openReport.source, .rebuilt, what)
            XCTAssertNotNil(c.openReport.rebuildReason, what)
            XCTAssertEqual(c.count, 300, what)
            XCTAssertEqual(try c.search(SearchRequest(vector: records[42].vector!, k: 1)).hits.first?.id, "p42", what)
            try db.close()
            XCTAssertEqual(try open().collection("p").openReport.source, .loaded, "after \(what) the rebuilt index was saved")
        }

        // An index file older than the trimmed log cannot be caught up: rebuild.
        let old = try Data(contentsOf: file)
        do {
            let db = try open()
            try db.collection("p").delete(["p1"])
            try db.close()
        }
        try old.write(to: file)
        let c = try open().collection("p")
        XCTAssertEqual(c.openReport.source, .rebuilt)
        XCTAssertTrue(c.openReport.rebuildReason?.contains("older") ?? false, c.openReport.rebuildReason ?? "")
        XCTAssertEqual(c.count, 299)

        // A missing index file with records in SQLite: rebuild.
        try FileManager.default.removeItem(at: file)
        XCTAssertEqual(try open().collection("p").openReport.source, .rebuilt)
    }

    func testChurnKeepsRecallAndBoundsTheGraph() throws {
        var options = Database.Options()
        options.compactionMinDeleted = 100
        let db = try Database(directory: dir, options: options)
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        var live = Dictionary(uniqueKeysWithValues: Synthetic.records(count: 1000, dim: dim).map { ($0.id, $0) })
        try c.upsert(Array(live.values))
        var rng = SplitMix(9)
        var fresh = 1000
        for round in 0..<10 {
            // Update 100 vectors, delete 100 records, insert 100 new ones.
            let ids = live.keys.sorted()
            var updates: [Record] = []
            for _ in 0..<100 {
                var r = live[rng.pick(ids)]!
                r.vector = Synthetic.query(dim: dim, seed: rng.next())
                updates.append(r)
                live[r.id] = r
            }
            try c.upsert(updates)
            let gone = Array(Set((0..<100).map { _ in rng.pick(ids) }))
            try c.delete(gone)
            gone.forEach { live[$0] = nil }
            let added = Synthetic.records(count: 100, dim: dim, seed: UInt64(100 + round)).map { r -> Record in
                var r = r
                r.id = "n\(fresh)"
                fresh += 1
                return r
            }
            try c.upsert(added)
            added.forEach { live[$0.id] = $0 }
            let s = c.stats
            XCTAssertEqual(s.records, live.count)
            XCTAssertLessThanOrEqual(s.tombstones, max(100, Int(0.2 * Double(s.graphNodes))) + 100, "round \(round)")
            XCTAssertLessThanOrEqual(s.graphNodes, Int(Double(live.count) * 1.3) + 100, "round \(round): graph must not grow without bound")
        }
        var total = 0.0
        for q in 0..<40 {
            let query = Synthetic.query(dim: dim, seed: UInt64(5000 + q))
            let truth = live.values.sorted { cosineDistance($0.vector!, query) < cosineDistance($1.vector!, query) }.prefix(10).map(\.id)
            let got = try c.search(SearchRequest(vector: query, k: 10), planner: .forcingGraph).hits.map(\.id)
            XCTAssertTrue(got.allSatisfy { live[$0] != nil }, "a deleted record came back")
            total += Double(Set(got).intersection(truth).count) / 10
        }
        XCTAssertGreaterThanOrEqual(total / 40, 0.95)
    }

    func testConcurrentSearchesDuringWritesSeeOnlyWholeRecords() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let records = Synthetic.records(count: 1200, dim: dim)
        try c.upsert(Array(records.prefix(400)))
        let known = Set(records.map(\.id))
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            do {
                if worker == 0 {
                    for start in stride(from: 400, to: 1200, by: 50) {
                        try c.upsert(Array(records[start..<(start + 50)]))
                        try c.delete(["p\(start - 400)"])
                    }
                } else {
                    for i in 0..<300 {
                        let r = try c.search(SearchRequest(vector: records[i % 1200].vector!, k: 5, filter: i % 2 == 0 ? "year > 1970" : nil))
                        if r.hits.count != 5 { failures.withLock { $0.append("\(r.hits.count) hits") } }
                        if r.hits.map(\.distance) != r.hits.map(\.distance).sorted() { failures.withLock { $0.append("unsorted hits") } }
                        if let bad = r.hits.first(where: { !known.contains($0.id) }) { failures.withLock { $0.append("unknown id \(bad.id)") } }
                    }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(c.count, 1200 - 16)
        XCTAssertEqual(c.stats.records, 1184)
        XCTAssertNil(try c.get("p50"))
        XCTAssertFalse(try c.search(SearchRequest(vector: records[50].vector!, k: 10)).hits.contains { $0.id == "p50" })
    }

    func testSnapshotRestoresAnEqualCollectionAndRejectsDamage() throws {
        let db = try open()
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: dim, schema: .perfume))
        let records = Synthetic.records(count: 400, dim: dim)
        try c.upsert(records)
        try c.delete(["p3"])
        let snap = dir.appendingPathComponent("p.fdbz")
        try c.snapshot(to: snap)

        let copy = try db.restore(from: snap, as: "copy")
        XCTAssertEqual(copy.count, 399)
        XCTAssertEqual(try copy.get("p10"), records[10])
        XCTAssertNil(try copy.get("p3"))
        let q = Synthetic.query(dim: dim, seed: 77)
        XCTAssertEqual(try copy.search(SearchRequest(vector: q, k: 10)).hits, try c.search(SearchRequest(vector: q, k: 10)).hits)
        XCTAssertEqual(try copy.count(filter: "family = 'floral'"), try c.count(filter: "family = 'floral'"))
        XCTAssertThrowsError(try db.restore(from: snap)) { XCTAssertEqual(($0 as? StoreError)?.code, .alreadyExists) }
        try db.close()
        XCTAssertEqual(try open().collection("copy").openReport.source, .loaded)

        let bytes = try Data(contentsOf: snap)
        let db2 = try open()
        for (i, bad) in [bytes.prefix(bytes.count - 10), { var d = bytes; d[d.count / 2] ^= 1; return d }(), Data("FDBSNAP1junk".utf8), Data()].enumerated() {
            let f = dir.appendingPathComponent("bad\(i).fdbz")
            try bad.write(to: f)
            XCTAssertThrowsError(try db2.restore(from: f, as: "bad\(i)"), "damage \(i)")
            XCTAssertFalse(db2.collectionNames.contains("bad\(i)"), "nothing is created from a damaged snapshot")
        }
    }
}

extension QueryPlanner {
    /// Graph search whenever possible (exact only as the never-fewer-than-k fallback).
    static var forcingGraph: QueryPlanner {
        var p = QueryPlanner()
        p.graphCostFactor = 0
        p.alwaysExactBelow = 0
        return p
    }
}

extension CollectionTests {
    func testBatchReadsEqualSingleReads() throws {
        let db = try open()
        defer { try? db.close() }
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: 3, schema: .perfume))
        var records: [Record] = []
        for i in 0..<40 {
            var a: [String: AttributeValue] = ["name": .string("n\(i)"), "year": .int(Int64(1990 + i))]
            if i % 2 == 0 { a["accords"] = .strings(["woody", "a\(i)"]) }
            if i % 3 == 0 { a["notes"] = .tiered(["top": ["bergamot", "t\(i)"], "base": ["musk"]]) }
            records.append(Record(id: "r\(i)", vector: [Float(i), 1, 0], attributes: a))
        }
        try c.upsert(records)
        let ids = ["r5", "missing", "r0", "r39", "r12", "r5"]
        XCTAssertEqual(try c.records(ids, includeVector: true), try ids.map { try c.get($0) })
        XCTAssertNil(try c.records(["r1"])[0]?.vector, "no vector unless asked")
        XCTAssertEqual(try c.records([]), [])
    }
}
