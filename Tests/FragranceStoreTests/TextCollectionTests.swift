import Perfumery
import Embedding
import XCTest
import TestSupport
@testable import FragranceStore

/// Collections whose vectors come from text through the real MiniLM weights.
final class TextCollectionTests: XCTestCase {
    static let modelDirectory = Repository.modelDirectory
    var dir: URL!

    override func setUp() { dir = temporaryDirectory(name) }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func open(models: ModelRegistry?) throws -> Database {
        var o = Database.Options()
        o.models = models
        return try Database(directory: dir, options: o)
    }

    let perfumes: [(String, String, String, String)] = [
        ("citrus-men", "Acqua Fresca", "Fresh citrus cologne for men with bergamot, lemon and sea notes, made for summer", "male"),
        ("oud-night", "Midnight Oud", "Dark smoky oud and leather with incense, a heavy winter evening scent", "unisex"),
        ("rose-spring", "Rose Garden", "Romantic powdery rose and peony bouquet for women in spring", "female"),
        ("vanilla", "Sweet Vanilla", "Gourmand vanilla, caramel and tonka bean, warm and sweet", "female"),
        ("vetiver", "Green Vetiver", "Earthy green vetiver and grapefruit, crisp and dry woods for men", "male"),
    ]

    func records() -> [Record] {
        perfumes.map { id, name, description, gender in
            Record(id: id, attributes: ["name": .string(name), "description": .string(description), "gender": .string(gender)])
        }
    }

    func testTextRecordsAreEmbeddedAndTextQueriesFindThem() throws {
        let models = ModelRegistry(directory: Self.modelDirectory)
        XCTAssertFalse(models.stats.loaded, "the model loads on first use, not at start")
        let db = try open(models: models)
        let c = try db.createCollection(CollectionConfig(name: "perfumes", dimension: 384, schema: .perfume, embedder: "minilm"))
        try c.upsert(records())
        XCTAssertTrue(models.stats.loaded)
        XCTAssertEqual(models.stats.textsEmbedded, 5)

        let hits = try c.search(SearchRequest(text: "fresh citrus summer fragrance for men", k: 3)).hits
        XCTAssertEqual(hits.first?.id, "citrus-men", "\(hits)")
        XCTAssertEqual(try c.search(SearchRequest(text: "smoky leather for cold nights", k: 1)).hits.first?.id, "oud-night")
        XCTAssertEqual(try c.search(SearchRequest(text: "fresh for men", k: 1, filter: "gender = 'female'")).hits.first.map { ["rose-spring", "vanilla"].contains($0.id) }, true)

        // The stored vector is the model's vector of the record's text fields, joined, at the
        // registry's storage precision (int8 by default); within cosine 0.99 of float32.
        let stored = try XCTUnwrap(try c.get("vanilla")?.vector)
        let text = "Sweet Vanilla. Gourmand vanilla, caramel and tonka bean, warm and sweet"
        let expected = try models.embedder().embed([text], precision: models.storagePrecision)[0]
        XCTAssertLessThan(zip(stored, expected).map { abs($0 - $1) }.max()!, 1e-5)
        let exact = try models.embedder().embed(text)
        XCTAssertGreaterThan(zip(stored, exact).reduce(Float(0)) { $0 + $1.0 * $1.1 }, 0.99)
        XCTAssertEqual(models.stats.calls, 4)
        try db.close()

        // Reopening needs no model: vectors live in SQLite and the graph in its index file.
        let again = try open(models: nil).collection("perfumes")
        XCTAssertEqual(again.count, 5)
        XCTAssertEqual(try again.search(SearchRequest(vector: stored, k: 1)).hits.first?.id, "vanilla")
        XCTAssertThrowsError(try again.search(SearchRequest(text: "vanilla"))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .modelUnavailable)
        }
    }

    func testWithoutTheModelTextFailsClearlyAndVectorsKeepWorking() throws {
        let empty = dir.appendingPathComponent("no-model")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let db = try open(models: ModelRegistry(directory: empty))
        let text = try db.createCollection(CollectionConfig(name: "text", dimension: 384, schema: .perfume, embedder: "minilm"))
        XCTAssertThrowsError(try text.upsert(records())) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.code, .modelUnavailable)
            XCTAssertTrue(e?.message.contains("tools/setup") ?? false, "\(error)")
        }
        XCTAssertEqual(text.count, 0)
        XCTAssertThrowsError(try text.search(SearchRequest(text: "rose"))) { XCTAssertEqual(($0 as? StoreError)?.code, .modelUnavailable) }
        // A record with its own vector needs no model, even in an embedding collection.
        try text.upsert([Record(id: "v", vector: Array(repeating: 0.05, count: 384))])
        XCTAssertEqual(text.count, 1)

        let vectors = try db.createCollection(CollectionConfig(name: "vectors", dimension: 4, schema: .perfume))
        try vectors.upsert([Record(id: "a", vector: [1, 0, 0, 0])])
        XCTAssertEqual(try vectors.search(SearchRequest(vector: [1, 0, 0, 0], k: 1)).hits.first?.id, "a")
        XCTAssertThrowsError(try vectors.search(SearchRequest(text: "rose"))) { error in
            XCTAssertEqual((error as? StoreError)?.code, .badRequest)
            XCTAssertTrue("\(error)".contains("has no embedder"))
        }
        XCTAssertThrowsError(try vectors.upsert([Record(id: "b", attributes: ["name": .string("no vector")])])) {
            XCTAssertTrue("\($0)".contains("no vector"))
        }
    }

    func testEmbedderDeclarationsAreChecked() throws {
        let db = try open(models: nil)
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "a", dimension: 128, schema: .perfume, embedder: "minilm"))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .dimensionMismatch)
        }
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "b", dimension: 384, schema: .perfume, embedder: "word2vec"))) {
            XCTAssertTrue("\($0)".contains("unknown embedder"))
        }
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "c", dimension: 384, schema: .perfume, embedder: "minilm", embedFields: ["family"]))) {
            XCTAssertTrue("\($0)".contains("not a text field"))
        }
        let c = try db.createCollection(CollectionConfig(name: "d", dimension: 384, schema: .perfume, embedder: "minilm"))
        XCTAssertThrowsError(try c.upsert([Record(id: "x", attributes: ["family": .string("floral")])])) {
            XCTAssertTrue("\($0)".contains("no vector and no text"), "\($0)")
        }
    }
}

extension TextCollectionTests {
    func testRepeatedQueriesComeFromTheEmbeddingCache() throws {
        let models = ModelRegistry(directory: Self.modelDirectory)
        let a = try models.embed(["fresh citrus summer fragrance for men"])
        let b = try models.embed(["fresh citrus summer fragrance for men"])
        XCTAssertEqual(a, b)
        XCTAssertEqual(models.stats.queryCacheHits, 1)
        XCTAssertEqual(models.stats.queryCacheMisses, 1)
        XCTAssertEqual(models.stats.textsEmbedded, 1, "the model ran once")
        _ = try models.embed(["a", "b"])   // batches (imports) bypass the cache
        XCTAssertEqual(models.stats.queryCacheHits, 1)
        XCTAssertGreaterThan(models.stats.embedSeconds, 0)
    }
}
