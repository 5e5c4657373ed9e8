import Embedding
import Foundation
import XCTest
import TestSupport
@testable import FragranceStore
@testable import Perfumery

/// The importer against real SQLite files (and, where rows carry no vector, the real model).
final class ImportTests: XCTestCase {
    static let modelDirectory = Repository.modelDirectory
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-import-\(UUID().uuidString.prefix(8))")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func vectorCollection(_ db: Database, dimension: Int = 4) throws -> FragranceStore.Collection {
        try db.createCollection(CollectionConfig(name: "perfumes", dimension: dimension, schema: .perfume))
    }

    static let fixture = """
    {"id": "good-1", "name": "Alpha", "accords": ["citrus"], "vector": [1, 0, 0, 0]}
    {"id": "bad-json", "name": "Broken",
    {"id": "good-2", "name": "Beta", "year": 1999, "vector": [0, 1, 0, 0]}
    {"name": "No Id", "vector": [0, 0, 1, 0]}
    {"id": "wrong-type", "name": "Gamma", "year": "nineteen", "vector": [0, 0, 1, 0]}
    {"id": "good-1", "name": "Alpha again", "vector": [1, 0, 0, 0]}
    {"id": "huge", "name": "\(String(repeating: "x", count: 301))", "vector": [0, 0, 0, 1]}
    {"id": "short-vector", "name": "Delta", "vector": [1, 2]}
    [1, 2, 3]

    {"id": "good-3", "name": "Epsilon", "notes": {"top": ["Vetyver"]}, "vector": [0, 0, 0, 1]}
    """

    func testBrokenRowsAreRejectedByLineAndTheGoodOnesAllStored() async throws {
        let db = try Database(directory: dir)
        defer { try? db.close() }
        let c = try vectorCollection(db)
        try c.upsert([Record(id: "already", vector: [1, 1, 1, 1], attributes: ["name": .string("Kept")])])
        let rows = try RowReader.rows(Array(Self.fixture.utf8), format: .jsonl)
        let importer = Importer(kind: .perfume, vocabulary: try .bundled())
        let rejected = RejectionLog()
        let p = try await importer.run(rows, into: CollectionSink(c), reject: { rejected.add($0) })
        XCTAssertEqual(p.stored, 3)
        XCTAssertEqual(p.rejected, 7)
        XCTAssertEqual(Set(try c.ids(matching: "year > 0 OR NOT year > 0")), ["already", "good-1", "good-2", "good-3"])
        XCTAssertEqual(try c.get("good-1")?.attributes["name"], .string("Alpha"), "the first of two equal ids wins; the second is a reject")
        XCTAssertEqual(try c.get("already")?.attributes["name"], .string("Kept"), "nothing already stored changed")
        guard case .tiered(let notes)? = try c.get("good-3")?.attributes["notes"] else { return XCTFail() }
        XCTAssertEqual(notes["top"], ["vetiver"])
        let byLine = Dictionary(uniqueKeysWithValues: rejected.all.map { ($0.line, $0.reason) })
        XCTAssertEqual(byLine[2], "not valid JSON")
        XCTAssertEqual(byLine[4], "missing 'id'")
        XCTAssertTrue(byLine[5]?.contains("'year' must be an integer") ?? false)
        XCTAssertEqual(byLine[6], "duplicate id 'good-1' (first on line 1)")
        XCTAssertTrue(byLine[7]?.contains("'name' is longer than 300") ?? false)
        XCTAssertEqual(byLine[8], "'vector' has 2 numbers; the collection takes 4")
        XCTAssertEqual(byLine[9], "the line is JSON but not an object")
        XCTAssertEqual(rejected.all.first { $0.line == 5 }?.id, "wrong-type")
    }

    /// Lines are cut on LF; blank ones (spaces, tabs, a CR) are skipped but still counted, so
    /// reasons name the line an editor shows; a row's raw text is its own line only.
    func testJSONLinesKeepTheirLineNumbersAndOwnText() throws {
        let text = "{\"id\": \"a\"}\r\n\n \t\r\n{\"id\": \"b\"}\nnot json\n{\"id\": \"c\"}"
        for input in [text, text + "\n"] {
            let rows = try RowReader.rows(Array(input.utf8), format: .jsonl)
            XCTAssertEqual(rows.map(\.line), [1, 4, 5, 6])
            XCTAssertEqual(rows.map { (try? $0.object.get())?["id"] as? String }, ["a", "b", nil, "c"])
            XCTAssertEqual(rows.map(\.raw), ["{\"id\": \"a\"}\r", "{\"id\": \"b\"}", "not json", "{\"id\": \"c\"}"])
        }
        XCTAssertTrue(try RowReader.rows([], format: .jsonl).isEmpty)
        XCTAssertTrue(try RowReader.rows(Array("\n\n".utf8), format: .jsonl).isEmpty)
    }

    /// A value outside a field's list fails its row, never its batch: the rows around it are stored.
    func testAValueOutsideTheSchemaListRejectsOnlyItsRow() async throws {
        let db = try Database(directory: dir)
        defer { try? db.close() }
        let c = try db.createCollection(CollectionConfig(name: "materials", dimension: 4, schema: .material))
        let rows = try RowReader.rows(Array("""
        {"id": "m1", "name": "Iso E Super", "odor_strength": "very high", "vector": [1, 0, 0, 0]}
        {"id": "m2", "name": "Hedione", "odor_strength": "deafening", "vector": [0, 1, 0, 0]}
        {"id": "m3", "name": "Galaxolide", "odor_strength": "medium", "vector": [0, 0, 1, 0]}
        """.utf8), format: .jsonl)
        let rejected = RejectionLog()
        let p = try await Importer(kind: .material, vocabulary: try .bundled()).run(rows, into: CollectionSink(c), reject: { rejected.add($0) })
        XCTAssertEqual(p.stored, 2)
        XCTAssertEqual(Set(c.existing(["m1", "m2", "m3"])), ["m1", "m3"])
        XCTAssertEqual(rejected.all.map(\.line), [2])
        XCTAssertTrue(rejected.all.first?.reason.contains("'deafening' is not a valid strength") ?? false, rejected.all.first?.reason ?? "")
    }

    func testImportingTwiceChangesNothingAndUpdateOverwrites() async throws {
        let db = try Database(directory: dir)
        defer { try? db.close() }
        let c = try vectorCollection(db)
        let rows = try RowReader.rows(Array(Self.fixture.utf8), format: .jsonl)
        var importer = Importer(kind: .perfume, vocabulary: try .bundled())
        _ = try await importer.run(rows, into: CollectionSink(c))
        let before = try ["good-1", "good-2", "good-3"].map { try c.get($0) }
        let again = try await importer.run(rows, into: CollectionSink(c))
        XCTAssertEqual(again.stored, 0)
        XCTAssertEqual(again.skipped, 3)
        XCTAssertEqual(try ["good-1", "good-2", "good-3"].map { try c.get($0) }, before)
        XCTAssertEqual(c.stats.graphNodes, 3, "no tombstones: nothing was rewritten")
        importer.options.update = true
        let updated = try await importer.run(rows, into: CollectionSink(c))
        XCTAssertEqual(updated.stored, 3)
        importer.options.dryRun = true
        let dry = try await importer.run(rows, into: CollectionSink(c))
        XCTAssertEqual(dry.rejected, 7)
    }

    func testRowsWithoutVectorsAreEmbeddedWithTheRealModel() async throws {
        var options = Database.Options()
        options.models = ModelRegistry(directory: Self.modelDirectory)
        let db = try Database(directory: dir, options: options)
        defer { try? db.close() }
        let c = try db.createCollection(Importer.collectionConfig(name: "perfumes", kind: .perfume))
        let rows = Array(try BundledCatalogue.rows(.perfume).prefix(300))
        var importer = Importer(kind: .perfume, vocabulary: try .bundled())
        importer.options.batchSize = 64
        let p = try await importer.run(rows, into: CollectionSink(c))
        XCTAssertEqual(p.stored, 300)
        XCTAssertEqual(c.count, 300)
        // A record is found by its own composed text.
        let any = try XCTUnwrap(try c.get("fr-37691"))
        guard case .string(let text)? = any.attributes["text"] else { return XCTFail() }
        XCTAssertEqual(try c.search(SearchRequest(text: text, k: 1)).hits.first?.id, "fr-37691")
    }
}

final class RejectionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Importer.Rejection] = []
    func add(_ r: Importer.Rejection) { lock.withLock { list.append(r) } }
    var all: [Importer.Rejection] { lock.withLock { list } }
}
