import Perfumery
import Foundation
import XCTest
import TestSupport
@testable import FragranceStore

/// The migration ledger of catalog.sqlite (issue #18): versions in `PRAGMA user_version`,
/// names in `migrations`, each step once, and a newer file refused.
final class MigrationTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-mig-\(UUID().uuidString.prefix(8))") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func ledger() throws -> (version: Int, names: [String]) {
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        defer { raw.close() }
        var version = -1, names: [String] = []
        try raw.statement("PRAGMA user_version").forEachRow { version = Int($0.int(0)) }
        try raw.statement("SELECT name FROM migrations ORDER BY version").forEachRow { names.append($0.text(0) ?? "") }
        return (version, names)
    }

    func testANewDatabaseRecordsEveryStepAndReopensWithoutRerunningThem() throws {
        var db: Database? = try Database(directory: dir)
        try db!.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
            .upsert([Record(id: "a", vector: [1, 0], attributes: ["name": .string("Rose Oud")])])
        try db!.close()
        var l = try ledger()
        XCTAssertEqual(l.version, Migrations.latest)
        XCTAssertEqual(l.names, Migrations.all.map(\.name))
        db = try Database(directory: dir)
        XCTAssertEqual(try db!.collection("p").keywordSearch("oud").map(\.id), ["a"])
        try db!.close()
        l = try ledger()
        XCTAssertEqual(l.names.count, Migrations.latest, "no step ran twice")
    }

    func testAnOldDatabaseRunsTheStepsItLacks() throws {
        var db: Database? = try Database(directory: dir)
        try db!.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
            .upsert([Record(id: "a", vector: [1, 0], attributes: ["name": .string("Rose Oud")])])
        try db!.close()
        // As the last version before the keyword index left it: three steps run, no index.
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("DROP TABLE \"c_p__fts\"")
        try raw.execute("DELETE FROM migrations WHERE version = 4")
        try raw.execute("PRAGMA user_version = 3")
        raw.close()
        db = try Database(directory: dir)
        XCTAssertEqual(try db!.collection("p").keywordSearch("rose").map(\.id), ["a"], "the keyword index was filled")
        try db!.close()
        XCTAssertEqual(try ledger().version, Migrations.latest)
    }

    func testADatabaseFromANewerVersionIsRefusedAndLeftAlone() throws {
        try Database(directory: dir).close()
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("PRAGMA user_version = \(Migrations.latest + 1)")
        raw.close()
        XCTAssertThrowsError(try Database(directory: dir)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .corrupt)
            XCTAssertTrue("\(error)".contains("layout version \(Migrations.latest + 1)"), "\(error)")
        }
        XCTAssertEqual(try ledger().version, Migrations.latest + 1, "nothing was rewritten")
    }

    /// The store knows no domain schema (issue #18): the preset upgrades come from the opener's
    /// Options.presets. Opened without presets, a perfume collection stored before keyword
    /// weights keeps its schema as stored; Perfumery's options upgrade it.
    func testPresetUpgradesComeFromTheOpenerNotTheStore() throws {
        let unweighted = CollectionSchema(fields: CollectionSchema.perfume.fields.map { var f = $0; f.keyword = nil; return f })
        func storeOldLayout() throws {
            try? FileManager.default.removeItem(at: dir)
            try Database(directory: dir).createCollection(CollectionConfig(name: "p", dimension: 2, schema: unweighted))
                .upsert([Record(id: "a", vector: [1, 0], attributes: ["name": .string("Rose Oud"), "brand": .string("Maison Noir")])])
            let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
            try raw.execute("DROP TABLE \"c_p__fts\"")
            try raw.execute("PRAGMA user_version = 0")
            raw.close()
        }
        try storeOldLayout()
        XCTAssertEqual(try Database(directory: dir).collection("p").config.schema, unweighted, "no presets: nothing adopted")
        try storeOldLayout()
        let c = try Database(directory: dir, options: .perfumery).collection("p")
        XCTAssertEqual(c.config.schema, .perfume)
        XCTAssertEqual(try c.keywordSearch("maison").map(\.id), ["a"], "the brand is a keyword field now")
    }

    /// Issue #19: a perfume collection stored before its fields had synonyms takes them on
    /// open, so `gender = 'men'` finds what the importer stored as "male".
    func testPresetSynonymsAreAdoptedByAStoredCollection() throws {
        let bare = CollectionSchema(fields: CollectionSchema.perfume.fields.map { var f = $0; f.synonyms = nil; return f })
        try Database(directory: dir).createCollection(CollectionConfig(name: "p", dimension: 2, schema: bare))
            .upsert([Record(id: "a", vector: [1, 0], attributes: ["gender": .string("male"), "seasons": .strings(["fall"])])])
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("PRAGMA user_version = \(Migrations.latest - 1)")
        raw.close()
        let db = try Database(directory: dir, options: .perfumery)
        let c = try db.collection("p")
        XCTAssertEqual(c.config.schema, .perfume)
        XCTAssertEqual(try c.ids(matching: "gender = 'men' AND seasons CONTAINS 'autumn'"), ["a"])
        try db.close()
    }
}
