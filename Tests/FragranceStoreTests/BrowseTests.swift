import Foundation
import XCTest
import TestSupport
@testable import FragranceStore

/// Issue #19: browsing a filter in an order with a cursor, and facets, checked against a
/// brute-force reading of the same records on a real SQLite file.
final class BrowseTests: XCTestCase {
    var dir: URL!
    var db: Database!
    var c: FragranceStore.Collection!
    var all: [Record] = []

    override func setUpWithError() throws {
        dir = temporaryDirectory("fdb-browse", create: false)
        db = try Database(directory: dir)
        c = try db.createCollection(CollectionConfig(name: "shop", dimension: 2, schema: CollectionSchema(fields: [
            FieldSchema("brand", .string), FieldSchema("year", .int), FieldSchema("rating", .float), FieldSchema("tags", .set),
        ])))
        var rng = SplitMix(seed: 7)
        let brands = ["Atelier", "Maison Noir", "Zeta", "aurora"]
        let tags = ["sale", "new", "niche", "classic"]
        all = (0..<600).map { i in
            var a: [String: AttributeValue] = ["brand": .string(brands[Int(rng.next() % 4)]), "tags": .strings(tags.filter { _ in rng.next() % 3 == 0 })]
            if i % 10 != 0 { a["year"] = .int(1950 + Int64(rng.next() % 70)) }   // every tenth has no year
            a["rating"] = .float(Double(rng.next() % 50) / 10)   // many ties
            return Record(id: String(format: "p%04d", (i * 7919) % 600), vector: [Float(i % 5) + 1, 1], attributes: a)
        }
        try c.upsert(all)
    }

    override func tearDownWithError() throws {
        try db.close()
        try? FileManager.default.removeItem(at: dir)
    }

    /// Every page of a browse, following `next`.
    func pages(filter: String?, order: BrowseOrder, limit: Int) throws -> (ids: [String], pages: Int, total: Int) {
        var ids: [String] = [], after: String?, pages = 0, total = 0
        repeat {
            let p = try c.browse(filter: filter, order: order, after: after, limit: limit)
            XCTAssertLessThanOrEqual(p.records.count, limit)
            ids += p.records.map(\.id)
            (after, total) = (p.next, p.total)
            pages += 1
        } while after != nil && pages < 1000
        return (ids, pages, total)
    }

    func year(_ r: Record) -> Int? { if case .int(let y)? = r.attributes["year"] { Int(y) } else { nil } }

    func testPagesFollowTheOrderWithoutRepeatsOrGaps() throws {
        // By id.
        let byId = try pages(filter: nil, order: .byId, limit: 64)
        XCTAssertEqual(byId.ids, all.map(\.id).sorted())
        XCTAssertEqual(byId.pages, 10, "600 records in pages of 64")
        XCTAssertEqual(byId.total, 600)

        // By year descending under a filter; records without a year last, ties by id.
        let filter = "tags CONTAINS 'sale'"
        let expected = all.filter { if case .strings(let t)? = $0.attributes["tags"] { t.contains("sale") } else { false } }
            .sorted { a, b in
                switch (year(a), year(b)) {
                case let (x?, y?) where x != y: return x > y
                case (.some, nil): return true
                case (nil, .some): return false
                default: return a.id > b.id
                }
            }
        let got = try pages(filter: filter, order: BrowseOrder(parsing: "year:desc"), limit: 7)
        XCTAssertEqual(got.ids, expected.map(\.id))
        XCTAssertEqual(got.total, expected.count)
        XCTAssertEqual(try c.browse(filter: filter, order: BrowseOrder(parsing: "-year"), limit: 3).records.map(\.id),
                       Array(expected.prefix(3).map(\.id)), "-year is year:desc")
        // Strings order case-insensitively.
        let brands = try pages(filter: nil, order: BrowseOrder(parsing: "brand"), limit: 100).ids.compactMap { id in
            all.first { $0.id == id }.flatMap { if case .string(let s)? = $0.attributes["brand"] { s.lowercased() } else { nil } }
        }
        XCTAssertEqual(brands, brands.sorted())
        XCTAssertEqual(Set(brands), ["atelier", "aurora", "maison noir", "zeta"])
    }

    func testACursorSurvivesWritesBetweenPages() throws {
        let order = try BrowseOrder(parsing: "rating:desc")
        let first = try c.browse(filter: nil, order: order, limit: 50)
        let seen = Set(first.records.map(\.id))
        // Delete a record not yet seen, add a new one that sorts after the cursor.
        let unseen = all.map(\.id).first { !seen.contains($0) }!
        _ = try c.delete([unseen])
        try c.upsert([Record(id: "zz-new", vector: [1, 1], attributes: ["rating": .float(-1)])])
        var rest: [String] = [], after = first.next
        while let a = after {
            let p = try c.browse(filter: nil, order: order, after: a, limit: 50)
            rest += p.records.map(\.id)
            after = p.next
        }
        XCTAssertTrue(Set(rest).isDisjoint(with: seen), "no record repeats")
        XCTAssertEqual(Set(rest).union(seen), Set(all.map(\.id)).subtracting([unseen]).union(["zz-new"]), "nothing skipped")
        XCTAssertEqual(rest.last, "zz-new")
    }

    func testBadOrdersAndCursorsAreRefusedByName() throws {
        func code(_ body: () throws -> Void) -> (StoreError.Code?, String) {
            do { try body(); return (nil, "") } catch { return ((error as? StoreError)?.code, "\(error)") }
        }
        var (e, m) = code { _ = try c.browse(filter: nil, order: BrowseOrder(parsing: "raiting"), limit: 5) }
        XCTAssertEqual(e, .unknownField)
        XCTAssertTrue(m.contains("did you mean 'rating'"), m)
        (e, m) = code { _ = try c.browse(filter: nil, order: BrowseOrder(parsing: "tags"), limit: 5) }
        XCTAssertEqual(e, .badValue)
        XCTAssertTrue(m.contains("set"), m)
        (e, m) = code { _ = try BrowseOrder(parsing: "year:up") }
        XCTAssertEqual(e, .badValue)
        (e, m) = code { _ = try c.browse(filter: nil, order: .byId, after: "not a cursor", limit: 5) }
        XCTAssertEqual(e, .badValue)
        XCTAssertTrue(m.contains("'after'"), m)
        let next = try c.browse(filter: nil, order: BrowseOrder(parsing: "year"), limit: 5).next!
        (e, m) = code { _ = try c.browse(filter: nil, order: .byId, after: next, limit: 5) }
        XCTAssertEqual(e, .badValue, "a cursor from another order")
        XCTAssertTrue(m.contains("year:asc"), m)
    }

    func testFacetsCountValuesAndRangesUnderAFilter() throws {
        let filter = "rating >= 2.5"
        let chosen = all.filter { if case .float(let r)? = $0.attributes["rating"] { r >= 2.5 } else { false } }
        let (total, facets) = try c.facets([FacetRequest(field: "tags"), FacetRequest(field: "brand", size: 2), try FacetRequest(parsing: "year:10")],
                                           filter: filter)
        XCTAssertEqual(total, chosen.count)
        // tags: every value with its exact count.
        var tagCounts: [String: Int] = [:]
        var untagged = 0
        for r in chosen {
            guard case .strings(let t)? = r.attributes["tags"], !t.isEmpty else { untagged += 1; continue }
            for x in t { tagCounts[x, default: 0] += 1 }
        }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: facets[0].values!.map { ($0.value, $0.count) }), tagCounts)
        XCTAssertEqual(facets[0].missing, untagged)
        XCTAssertEqual(facets[0].values!.map(\.count), facets[0].values!.map(\.count).sorted(by: >), "most held first")
        // brand: the top two, the rest in `others`.
        XCTAssertEqual(facets[1].values!.count, 2)
        XCTAssertEqual(facets[1].values!.reduce(0) { $0 + $1.count } + facets[1].others!, chosen.count)
        // year: decades from the first held, missing counted apart.
        let years = chosen.compactMap(year)
        let y = facets[2]
        XCTAssertEqual(y.missing, chosen.count - years.count)
        XCTAssertEqual(y.stats?.min, Double(years.min()!))
        XCTAssertEqual(y.ranges!.first!.from, Double(years.min()! / 10 * 10))
        for range in y.ranges! {
            XCTAssertEqual(range.count, years.filter { Double($0) >= range.from && Double($0) < range.to }.count, "\(range)")
        }
        // Over chosen ids (a query's hits), the narrow path.
        let some = Array(chosen.prefix(5))
        let hitFacets = try c.facets([FacetRequest(field: "brand")], ids: some.map(\.id) + ["no-such-id"])
        XCTAssertEqual(hitFacets[0].values!.reduce(0) { $0 + $1.count } + hitFacets[0].missing, 5)
        // Automatic ranges for a float: about ten, covering every value.
        let auto = try c.facets([FacetRequest(field: "rating")], filter: nil).facets[0]
        XCTAssertEqual(auto.ranges!.reduce(0) { $0 + $1.count }, 600)
        XCTAssertLessThanOrEqual(auto.ranges!.count, 12)

        XCTAssertThrowsError(try c.facets([FacetRequest(field: "tagz")], filter: nil)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .unknownField)
            XCTAssertTrue("\(error)".contains("did you mean 'tags'"), "\(error)")
        }
        XCTAssertThrowsError(try c.facets([try FacetRequest(parsing: "brand:5")], filter: nil)) { XCTAssertEqual(($0 as? StoreError)?.code, .badValue) }
        XCTAssertThrowsError(try c.facets([try FacetRequest(parsing: "year:0.001")], filter: nil)) { XCTAssertEqual(($0 as? StoreError)?.code, .badValue) }
    }

    func testAMistypedCollectionNameSuggestsTheNearOne() throws {
        XCTAssertThrowsError(try db.collection("shops")) { error in
            XCTAssertEqual((error as? StoreError)?.code, .notFound)
            XCTAssertTrue("\(error)".contains("did you mean 'shop'"), "\(error)")
        }
        XCTAssertThrowsError(try db.collection("inventory")) { error in
            XCTAssertFalse("\(error)".contains("did you mean"), "nothing near: \(error)")
        }
    }
}
