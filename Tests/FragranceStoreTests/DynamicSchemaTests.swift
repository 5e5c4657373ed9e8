import Foundation
import XCTest
import TestSupport
@testable import FragranceStore

/// Issue #19: a schema that grows — fields inferred from the records of a dynamic collection,
/// fields added by ALTER — with typed columns, set tables, the attribute mirror and the
/// keyword index kept in step, on a real SQLite file that is reopened.
final class DynamicSchemaTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = temporaryDirectory("fdb-dyn", create: false) }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func shop(_ db: Database) throws -> FragranceStore.Collection {
        try db.createCollection(CollectionConfig(name: "shop", dimension: 2, schema: CollectionSchema(fields: []), dynamic: true))
    }

    func record(_ id: String, _ attributes: [String: AttributeValue], v: [Float] = [1, 0]) -> Record {
        Record(id: id, vector: v, attributes: attributes)
    }

    func testFieldsAreInferredFromFirstValuesAndSurviveAReopen() throws {
        var db: Database? = try Database(directory: dir)
        let c = try shop(db!)
        try c.upsert([
            record("a", ["brand": .string("Maison Noir"), "price": .int(12), "stock": .int(3), "tags": .strings(["sale", "new"]),
                         "description": .string("A dark rose with oud and a trail of smoke that lasts well into the night, for evenings.")]),
            record("b", ["brand": .string("Atelier"), "price": .float(24.5), "stock": .int(0), "tags": .strings(["new"])], v: [0, 1]),
        ])
        let types = Dictionary(uniqueKeysWithValues: c.config.schema.fields.map { ($0.name, $0.type) })
        XCTAssertEqual(types, ["brand": .string, "price": .float, "stock": .int, "tags": .set, "description": .text],
                       "price widened to float within the batch; the long string is text")
        XCTAssertEqual(try c.ids(matching: "price < 20 AND tags CONTAINS 'sale'"), ["a"])
        XCTAssertEqual(try c.keywordSearch("maison").map(\.id), ["a"], "string fields of a dynamic collection are keyword fields")
        try db!.close()

        db = try Database(directory: dir)
        let again = try db!.collection("shop")
        XCTAssertTrue(again.config.dynamic)
        XCTAssertEqual(again.config.schema.fields.map(\.name), c.config.schema.fields.map(\.name))
        XCTAssertEqual(try again.ids(matching: "stock = 0"), ["b"])
        XCTAssertEqual(try again.get("b")?.attributes["price"], .float(24.5))
        try again.upsert([record("c", ["colour": .string("red"), "price": .int(5)])])
        XCTAssertEqual(try again.ids(matching: "colour = 'red' AND price < 10"), ["c"], "a field added after the reopen is filterable")
        try db!.close()
    }

    func testAValueOfAnotherTypeIsBadTypeNamingFieldAndRecordAndStoresNothing() throws {
        let db = try Database(directory: dir)
        let c = try shop(db)
        try c.upsert([record("a", ["stock": .int(3)])])
        XCTAssertThrowsError(try c.upsert([record("b", ["stock": .string("many")])])) { error in
            XCTAssertEqual((error as? StoreError)?.code, .badType)
            XCTAssertTrue("\(error)".contains("record 'b'") && "\(error)".contains("'stock'") && "\(error)".contains("int"), "\(error)")
        }
        // Within one batch: the first record's type stands.
        XCTAssertThrowsError(try c.upsert([record("c", ["size": .strings(["s"])]), record("d", ["size": .int(2)])])) { error in
            XCTAssertEqual((error as? StoreError)?.code, .badType)
            XCTAssertTrue("\(error)".contains("record 'd'") && "\(error)".contains("from record 'c'"), "\(error)")
        }
        // A batch that fails for another reason adds no field either.
        XCTAssertThrowsError(try c.upsert([record("e", ["weight": .float(1)]), record("f", ["weight": .float(2)], v: [1, 0, 0])]))
        XCTAssertEqual(c.config.schema.fields.map(\.name), ["stock"])
        XCTAssertEqual(c.count, 1)
        try db.close()
    }

    func testAFieldNameTheSchemaCannotHoldIsRefusedByName() throws {
        let db = try Database(directory: dir)
        let c = try shop(db)
        XCTAssertThrowsError(try c.upsert([record("a", ["price-usd": .int(3)])])) { error in
            XCTAssertEqual((error as? StoreError)?.code, .badRecord)
            XCTAssertTrue("\(error)".contains("record 'a'") && "\(error)".contains("price-usd"), "\(error)")
        }
        XCTAssertThrowsError(try c.upsert([record("a", ["score": .int(3)])]), "reserved names stay reserved")
        XCTAssertEqual(c.config.schema.fields, [])
        try db.close()
    }

    func testAlterAddsFieldsToAFixedCollectionWithRecords() throws {
        var db: Database? = try Database(directory: dir)
        let c = try db!.createCollection(CollectionConfig(name: "p", dimension: 2, schema: CollectionSchema(fields: [FieldSchema("name", .text)])))
        try c.upsert([record("a", ["name": .string("Rose Oud")])])
        XCTAssertThrowsError(try c.upsert([record("b", ["price": .float(3)])]), "fixed: an unknown field is refused")
        try c.alter(adding: [FieldSchema("price", .float), FieldSchema("tags", .set), FieldSchema("notes", .text)])
        try c.upsert([record("b", ["name": .string("Vetiver"), "price": .float(3), "tags": .strings(["green"]), "notes": .string("grassy and smoky")], v: [0, 1])])
        XCTAssertEqual(try c.ids(matching: "price = 3 AND tags CONTAINS 'green'"), ["b"])
        XCTAssertEqual(try c.keywordSearch("rose").map(\.id), ["a"], "the rebuilt keyword index kept the stored rows")
        XCTAssertEqual(try c.keywordSearch("smoky").map(\.id), ["b"], "and indexes the new text field")
        XCTAssertThrowsError(try c.alter(adding: [FieldSchema("Price", .int)])) { XCTAssertEqual(($0 as? StoreError)?.code, .alreadyExists) }
        XCTAssertThrowsError(try c.alter(adding: [FieldSchema("vector", .int)])) { XCTAssertEqual(($0 as? StoreError)?.code, .badSchema) }
        try c.alter(adding: [], dynamic: true)
        try c.upsert([record("c", ["year": .int(2001)])])
        try db!.close()
        db = try Database(directory: dir)
        let again = try db!.collection("p")
        XCTAssertEqual(again.config.schema.fields.map(\.name), ["name", "price", "tags", "notes", "year"])
        XCTAssertEqual(try again.ids(matching: "year = 2001"), ["c"])
        XCTAssertEqual(try again.keywordSearch("smoky").map(\.id), ["b"])
        try db!.close()
    }

    /// Booleans are a type of their own: inferred, stored as 0/1, read back as true/false after
    /// a reopen, filtered with true/false.
    func testBooleansSurviveAReopen() throws {
        var db: Database? = try Database(directory: dir)
        let c = try shop(db!)
        try c.upsert([record("a", ["gift": .bool(true)]), record("b", ["gift": .bool(false)], v: [0, 1])])
        XCTAssertEqual(c.config.schema.field("gift")?.type, .bool)
        try db!.close()
        db = try Database(directory: dir)
        let again = try db!.collection("shop")
        XCTAssertEqual(try again.get("a")?.attributes["gift"], .bool(true))
        XCTAssertEqual(try again.get("b")?.attributes["gift"], .bool(false))
        XCTAssertEqual(try again.ids(matching: "gift = false"), ["b"])
        XCTAssertEqual(try again.ids(matching: "gift IN (true)"), ["a"])
        XCTAssertThrowsError(try again.upsert([record("c", ["gift": .int(1)])])) { XCTAssertEqual(($0 as? StoreError)?.code, .badType) }
        // And a snapshot round trip keeps them booleans.
        let file = dir.appendingPathComponent("shop.fdbz")
        try again.snapshot(to: file)
        let restored = try db!.restore(from: file, as: "copy")
        XCTAssertEqual(try restored.get("a")?.attributes["gift"], .bool(true))
        XCTAssertEqual(try restored.get("b")?.attributes["gift"], .bool(false))
        try db!.close()
    }
}
