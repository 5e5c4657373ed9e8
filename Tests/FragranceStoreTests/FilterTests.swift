import Perfumery
import XCTest
import TestSupport
@testable import FragranceStore

final class FilterTests: XCTestCase {
    static let dim = 16
    static let records = Synthetic.records(count: 1500, dim: dim, seed: 11)
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var database: Database!

    override class func setUp() {
        directory = temporaryDirectory("filters")
        database = try! Database(directory: directory)
        let c = try! database.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try! c.upsert(records)
    }

    override class func tearDown() {
        try? database.close()
        try? FileManager.default.removeItem(at: directory)
    }

    var collection: Collection { try! Self.database.collection("perfumes") }

    func assertMatchesOracle(_ filter: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expr = try FilterParser.parse(filter)
        let expected = Self.records.filter { Oracle.matches($0, expr) }.map(\.id)
        let got = try collection.ids(matching: filter)
        XCTAssertEqual(Set(got), Set(expected), filter, file: file, line: line)
        XCTAssertEqual(try collection.count(filter: filter), expected.count, filter, file: file, line: line)
    }

    func testEveryOperatorAgreesWithBruteForce() throws {
        let filters = [
            "family = 'floral'", "family != 'floral'", "family == 'FLORAL'", "family <> 'woody'",
            "brand < 'Brand 2'", "brand <= 'Brand 2'", "brand > 'Brand 35'", "brand >= 'brand 35'",
            "family IN ('citrus', 'aquatic', 'nothing')", "brand BETWEEN 'Brand 1' AND 'Brand 15'",
            "year = 1990", "year != 1990", "year < 1960", "year <= 1960", "year > 2020", "year >= 2020",
            "year IN (1970, 1980, 1990)", "year BETWEEN 1980 AND 1989", "rating > 4.5", "rating BETWEEN 2 AND 2.5",
            "rating <= 1.2e0", "year >= -5",
            "seasons CONTAINS 'spring'", "seasons CONTAINS ANY ('summer', 'winter')", "seasons CONTAINS ALL ('summer', 'winter')",
            "accords CONTAINS 'accord3'", "accords contains all ('accord3', 'accord4')",
            "notes CONTAINS 'Note 7'", "notes.top CONTAINS 'note 7'", "notes.base CONTAINS ANY ('Note 1', 'Note 2')",
            "notes.heart CONTAINS ALL ('Note 1', 'Note 2')",
            "gender = 'male'", "gender != 'male'", "NOT gender = 'male'", "NOT (gender = 'male')",
            "family = 'floral' AND seasons CONTAINS 'spring' AND intensity = 'light'",
            "family = 'floral' OR family = 'woody' AND year > 2000",
            "(family = 'floral' OR family = 'woody') AND year > 2000",
            "NOT (seasons CONTAINS 'spring' OR rating < 3) AND brand IN ('Brand 1', 'Brand 2', 'Brand 3')",
            "not not family = 'citrus'", "year BETWEEN 2000 AND 1990", "family = \"it''s\" OR family = 'it\\'s'",
        ]
        for f in filters { try assertMatchesOracle(f) }
    }

    func testRandomCompoundFiltersAgreeWithBruteForce() throws {
        var rng = SplitMix(5)
        func leaf() -> String {
            switch rng.next() % 7 {
            case 0: return "family \(rng.pick(["=", "!=", "<", ">="])) '\(rng.pick(Synthetic.families))'"
            case 1: return "year \(rng.pick(["=", "!=", "<", "<=", ">", ">="])) \(1950 + rng.next() % 75)"
            case 2: return "seasons CONTAINS \(rng.pick(["", "ANY ", "ALL "]).isEmpty ? "'\(rng.pick(Synthetic.seasons))'" : "ANY ('\(rng.pick(Synthetic.seasons))', '\(rng.pick(Synthetic.seasons))')")"
            case 3: return "notes.\(rng.pick(["top", "heart", "base"])) CONTAINS '\(rng.pick(Synthetic.notes))'"
            case 4: return "rating BETWEEN \(Double(rng.next() % 300) / 100 + 1) AND \(Double(rng.next() % 200) / 100 + 3)"
            case 5: return "gender IN ('\(rng.pick(["female", "male", "unisex"]))', 'unisex')"
            default: return "accords CONTAINS ALL ('\(rng.pick(Synthetic.accords))')"
            }
        }
        func expr(_ depth: Int) -> String {
            if depth == 0 || rng.chance(0.3) { return leaf() }
            switch rng.next() % 3 {
            case 0: return "(\(expr(depth - 1)) AND \(expr(depth - 1)))"
            case 1: return "(\(expr(depth - 1)) OR \(expr(depth - 1)))"
            default: return "NOT \(expr(depth - 1))"
            }
        }
        for _ in 0..<150 { try assertMatchesOracle(expr(3)) }
    }

    func assertError(_ filter: String, position: Int?, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try collection.count(filter: filter), filter, file: file, line: line) { error in
            guard let e = error as? StoreError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(e.code, .badFilter, file: file, line: line)
            XCTAssertEqual(e.position, position, "\(e.message)", file: file, line: line)
            XCTAssertTrue(e.message.contains(text), "'\(e.message)' should mention \(text)", file: file, line: line)
        }
    }

    func testParseErrorsNameThePositionAndTheToken() {
        assertError("", position: 1, contains: "empty")
        assertError("family = ", position: 10, contains: "expected a value after '='")
        assertError("family = 'floral' AND", position: 22, contains: "expected a field name")
        assertError("family 'floral'", position: 8, contains: "expected an operator")
        assertError("family = 'floral' year > 3", position: 19, contains: "found 'year'")
        assertError("(family = 'floral'", position: 19, contains: "expected ')'")
        assertError("family = 'floral", position: 10, contains: "unterminated string")
        assertError("year ! 3", position: 6, contains: "'!'")
        assertError("year IN (1990 1991)", position: 15, contains: "expected ',' or ')'")
        assertError("year BETWEEN 1990 OR 2000", position: 19, contains: "expected AND")
        assertError("family = 'a' ; DROP TABLE x", position: 14, contains: "unexpected character ';'")
        assertError(String(repeating: "NOT ", count: 100) + "year = 1", position: 257, contains: "nests deeper")
    }

    func testSchemaErrorsNameTheFieldAndWhatIsAllowed() {
        assertError("colour = 'red'", position: 1, contains: "unknown field 'colour'")
        assertError("year = 'old'", position: 1, contains: "'year' is a number")
        assertError("family = 3", position: 1, contains: "quote the value 3")
        assertError("seasons = 'spring'", position: 1, contains: "use CONTAINS")
        assertError("family CONTAINS 'floral'", position: 1, contains: "not a set")
        assertError("intensity = 'loud'", position: 1, contains: "expected one of: light, moderate, strong")
        assertError("seasons CONTAINS 'sprng'", position: 1, contains: "not a valid seasons")
        assertError("notes.middle CONTAINS 'rose'", position: 1, contains: "no tier 'middle'")
        assertError("family.top = 'x'", position: 1, contains: "has no tiers")
        assertError("year > 1 AND name = 'x'", position: 14, contains: "text field")
    }

    /// Issue #19: one vocabulary — "men" was accepted by import and recipes but refused by
    /// filters. A field's synonyms apply to the records written and to the filters read.
    func testSynonymsAreOneVocabularyForRecordsAndFilters() throws {
        let dir = temporaryDirectory("synonyms")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Database(directory: dir)
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
        try c.upsert([Record(id: "a", vector: [1, 0], attributes: ["gender": .string("Men"), "seasons": .strings(["Autumn", "fall"])]),
                      Record(id: "b", vector: [0, 1], attributes: ["gender": .string("for women")])])
        XCTAssertEqual(try c.get("a")?.attributes["gender"], .string("male"), "stored as the value the word stands for")
        XCTAssertEqual(try c.get("a")?.attributes["seasons"], .strings(["fall"]))
        XCTAssertEqual(try c.ids(matching: "gender = 'men'"), ["a"])
        XCTAssertEqual(try c.ids(matching: "gender IN ('feminine', 'masculine')").sorted(), ["a", "b"])
        XCTAssertEqual(try c.ids(matching: "seasons CONTAINS 'autumn'"), ["a"])
        XCTAssertThrowsError(try c.ids(matching: "gender = 'robot'")) { XCTAssertEqual(($0 as? StoreError)?.code, .badFilter) }
        let bad = CollectionSchema(fields: [FieldSchema("g", .string, values: ["a"], synonyms: ["x": "b"])])
        XCTAssertThrowsError(try db.createCollection(CollectionConfig(name: "q", dimension: 2, schema: bad))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .badSchema)
            XCTAssertTrue("\($0)".contains("'x' stands for 'b'"), "\($0)")
        }
        try db.close()
    }
}
