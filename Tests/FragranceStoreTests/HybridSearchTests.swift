import Perfumery
import Foundation
import XCTest
import TestSupport
@testable import FragranceStore
import HNSW

/// The keyword arm (SQLite FTS5, BM25) and fusion, on a real SQLite file.
final class HybridSearchTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = temporaryDirectory(name) }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Axis-aligned vectors: record i points along axis i % 4, so vector ranks are known.
    func perfume(_ id: String, _ name: String, axis: Int, notes: [String] = [], accords: [String] = [], brand: String? = nil,
                 seasons: [String] = [], gender: String? = nil) -> Record {
        var v = [Float](repeating: 0.05, count: 4)
        v[axis] = 1
        var r = Record(id: id, vector: v)
        r.attributes["name"] = .string(name)
        if !notes.isEmpty { r.attributes["notes"] = .tiered(["unspecified": notes]) }
        if !accords.isEmpty { r.attributes["accords"] = .strings(accords) }
        if let brand { r.attributes["brand"] = .string(brand) }
        if !seasons.isEmpty { r.attributes["seasons"] = .strings(seasons) }
        if let gender { r.attributes["gender"] = .string(gender) }
        return r
    }

    func collection(_ db: Database) throws -> Collection {
        let c = try db.createCollection(CollectionConfig(name: "perfumes", dimension: 4, schema: .perfume))
        try c.upsert([
            perfume("a", "Rose Garden", axis: 0, notes: ["rose", "peony"], accords: ["floral"], seasons: ["spring"], gender: "female"),
            perfume("b", "Oud Night", axis: 1, notes: ["agarwood (oud)", "rose"], accords: ["woody", "oud"], brand: "Maison Noir", gender: "male"),
            perfume("c", "Citrus Sun", axis: 2, notes: ["bergamot", "lemon"], accords: ["citrus", "fresh"], seasons: ["summer"]),
            perfume("d", "Vetiver Field", axis: 3, notes: ["vetiver", "grass"], accords: ["green", "woody"], gender: "male"),
            perfume("e", "Roses and Roses", axis: 1, notes: ["turkish rose", "damask rose"], accords: ["rose"]),
        ])
        return c
    }

    func testKeywordSearchRanksByBM25AndFiltersBeforeTheLimit() throws {
        let db = try Database(directory: dir, options: .perfumery)
        let c = try collection(db)
        let roses = try c.keywordSearch("roses", limit: 10)
        XCTAssertEqual(Set(roses.map(\.id)), ["a", "b", "e"], "porter stemming: roses finds rose")
        XCTAssertEqual(roses.first?.id, "e", "more and weightier matches (name, notes, accords) rank first")
        XCTAssertTrue(zip(roses, roses.dropFirst()).allSatisfy { $0.score >= $1.score })
        XCTAssertEqual(try c.keywordSearch("rose", limit: 1, filter: "gender = 'male'").map(\.id), ["b"],
                       "a filter applies before the limit")
        XCTAssertEqual(try c.keywordSearch("maison", limit: 5).map(\.id), ["b"], "brand is indexed")
        XCTAssertEqual(try c.keywordSearch("oud night", limit: 5, fields: ["name"], requireAll: true).map(\.id), ["b"])
        XCTAssertEqual(try c.keywordSearch("\"; DROP TABLE x; -- NEAR(", limit: 5), [], "query syntax is quoted away")
        XCTAssertThrowsError(try c.keywordSearch("rose", fields: ["gender"])) {
            XCTAssertTrue(($0 as? StoreError)?.message.contains("not a keyword field") ?? false)
        }
    }

    func testTheKeywordIndexFollowsWritesAndSurvivesReopen() throws {
        var db: Database? = try Database(directory: dir, options: .perfumery)
        var c = try collection(db!)
        XCTAssertEqual(try c.delete(["e"]), 1)
        var changed = perfume("c", "Citrus Sun", axis: 2, notes: ["yuzu"], accords: ["citrus"])
        changed.attributes["brand"] = .string("Yuzu House")
        try c.upsert([changed])
        XCTAssertEqual(try c.keywordSearch("roses").map(\.id).sorted(), ["a", "b"])
        XCTAssertEqual(try c.keywordSearch("bergamot"), [], "the replaced record's old notes are gone")
        XCTAssertEqual(try c.keywordSearch("yuzu").map(\.id), ["c"])
        try db!.close()

        // A collection stored before the keyword index existed gets it on open.
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("DROP TABLE \"c_perfumes__fts\"")
        try raw.execute("PRAGMA user_version = 0")   // and from before the migration ledger
        raw.close()
        db = try Database(directory: dir, options: .perfumery)
        c = try db!.collection("perfumes")
        XCTAssertEqual(try c.keywordSearch("yuzu").map(\.id), ["c"])
        XCTAssertEqual(try c.keywordSearch("rose").count, 2)
        try db!.close()
    }

    func testAPerfumeCollectionFromBeforeKeywordWeightsGetsThem() throws {
        var db: Database? = try Database(directory: dir, options: .perfumery)
        var old = CollectionConfig(name: "perfumes", dimension: 4, schema: .perfume)
        old.schema = CollectionSchema(fields: CollectionSchema.perfume.fields.map { var f = $0; f.keyword = nil; return f })
        try db!.createCollection(old).upsert([perfume("b", "Oud Night", axis: 1, notes: ["rose"], brand: "Maison Noir")])
        XCTAssertEqual(try db!.collection("perfumes").keywordSearch("maison"), [], "text fields only: the brand is not indexed")
        try db!.close()
        // As stored before this version: no keyword index at all.
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("DROP TABLE \"c_perfumes__fts\"")
        try raw.execute("PRAGMA user_version = 0")   // and from before the migration ledger
        raw.close()
        db = try Database(directory: dir, options: .perfumery)
        let c = try db!.collection("perfumes")
        XCTAssertEqual(c.config.schema, .perfume, "the preset's keyword weights are adopted")
        XCTAssertEqual(try c.keywordSearch("maison").map(\.id), ["b"])
        try db!.close()
        XCTAssertEqual(try Database(directory: dir, options: .perfumery).collection("perfumes").config.schema, .perfume, "and stored")
    }

    /// The material preset's strength list gained "very high"; a collection stored with the
    /// shorter list takes the new one on open (and keeps it), so the bundled rows load.
    func testAMaterialCollectionWithTheOlderStrengthListIsWidened() throws {
        var old = CollectionConfig(name: "materials", dimension: 4, schema: .perfume)
        old.schema = CollectionSchema(fields: CollectionSchema.material.fields.map {
            var f = $0
            if f.name == "strength" { f.values = ["low", "medium", "high"] }
            return f
        })
        var db: Database? = try Database(directory: dir, options: .perfumery)
        let loud = Record(id: "m1", vector: [1, 0, 0, 0], attributes: ["name": .string("Iso E Super"), "strength": .string("very high")])
        XCTAssertThrowsError(try db!.createCollection(old).upsert([loud]))
        try db!.close()
        // As a database from before the migration ledger (and the widened list) left it.
        let raw = try SQLiteDatabase(path: dir.appendingPathComponent("catalog.sqlite").path)
        try raw.execute("PRAGMA user_version = 0")
        raw.close()
        db = try Database(directory: dir, options: .perfumery)
        XCTAssertEqual(try db!.collection("materials").config.schema, .material)
        try db!.collection("materials").upsert([loud])
        try db!.close()
        db = try Database(directory: dir, options: .perfumery)
        XCTAssertEqual(try db!.collection("materials").config.schema, .material, "and stored")
        XCTAssertEqual(try db!.collection("materials").ids(matching: "strength = 'very high'"), ["m1"])
        try db!.close()
    }

    /// The popularity arm: the most voted records under the preference arm's filter join the
    /// fusion, so a classic the vectors put far away is a candidate at all (issue #22). Without
    /// the arm it is in no list, even with the preference arm skipped.
    func testThePopularityArmBringsTheMostVotedMatchesIn() throws {
        let db = try Database(directory: dir, options: .perfumery)
        let c = try db.createCollection(CollectionConfig(name: "perfumes", dimension: 4, schema: .perfume))
        var records = (0..<150).map { i -> Record in
            var r = perfume("s\(i)", "Spring \(i)", axis: 0, seasons: ["spring"])
            r.vector![1] = Float(i) / 500   // distinct, all near axis 0
            r.attributes["votes"] = .int(Int64(i % 7))
            return r
        }
        var classic = perfume("classic", "The Classic", axis: 2, seasons: ["spring"])
        classic.attributes["votes"] = .int(5000)
        var famousWinter = perfume("winter", "Winter Star", axis: 2, seasons: ["winter"])
        famousWinter.attributes["votes"] = .int(9000)
        records += [classic, famousWinter]
        try c.upsert(records)

        var request = HybridRequest(vector: [1, 0.05, 0.05, 0.05], k: 10)
        request.candidates = 20
        request.preferences = [Preference(name: "seasons: spring", filter: "seasons CONTAINS 'spring'", weight: 1)]
        let without = try c.hybridSearch(request)
        XCTAssertFalse(without.hits.contains { $0.id == "classic" })
        XCTAssertFalse(without.arms.contains("popularity"))

        request.popularity = "votes"
        let with = try c.hybridSearch(request)
        XCTAssertEqual(with.arms.last, "popularity")
        let hit = try XCTUnwrap(with.hits.first { $0.id == "classic" }, "\(with.hits.map(\.id))")
        XCTAssertEqual(hit.popularity?.rank, 1)
        XCTAssertNil(hit.vector, "the vector arm never saw it")
        XCTAssertFalse(with.hits.contains { $0.id == "winter" }, "the arm runs under the preferences: a famous winter perfume stays out")
        // No preferences: no arm (it would rank the whole catalogue by fame).
        request.preferences = []
        XCTAssertFalse(try c.hybridSearch(request).arms.contains("popularity"))
        // A field the schema lacks: no arm, no error.
        request.preferences = [Preference(name: "seasons: spring", filter: "seasons CONTAINS 'spring'", weight: 1)]
        request.popularity = "no_such_field"
        XCTAssertFalse(try c.hybridSearch(request).arms.contains("popularity"))
    }

    func testFusionPreferencesAndExclusions() throws {
        let db = try Database(directory: dir, options: .perfumery)
        let c = try collection(db)
        // Vector along axis 1 ranks b and e first; the keyword "vetiver" ranks d.
        var request = HybridRequest(vector: [0.05, 1, 0.05, 0.05], keywords: "vetiver grass", k: 5)
        var r = try c.hybridSearch(request)
        XCTAssertEqual(r.arms, ["vector", "keyword"])
        let d = try XCTUnwrap(r.hits.first { $0.id == "d" })
        XCTAssertEqual(d.keyword?.rank, 1)
        XCTAssertNotNil(d.vector)
        // RRF: a hit's fused score is the sum of 1 / (60 + rank) over the arms it is in.
        let expected = 1 / (60 + Double(d.vector!.rank)) + 1 / 61.0
        XCTAssertEqual(d.score, expected, accuracy: 1e-12)
        XCTAssertEqual(r.hits.first?.id, "d", "first in one arm and in the other's list beats first in one only")

        // A preference boosts the records that match it, without hiding the rest.
        request = HybridRequest(vector: [0.05, 1, 0.05, 0.05], k: 5)
        request.preferences = [Preference(name: "gender: female", filter: "gender = 'female'", weight: 1)]
        r = try c.hybridSearch(request)
        XCTAssertEqual(r.hits.count, 5)
        XCTAssertEqual(r.hits.first?.id, "a", "the only female perfume is first though the vector ranks it low")
        XCTAssertEqual(r.hits.first?.matchedPreferences, ["gender: female"])
        XCTAssertEqual(r.arms, ["vector", "preference"])
        XCTAssertEqual(r.preferenceFilter, "gender = 'female'")

        // With k records matching every preference already in the vector arm's pool, the
        // preference arm is not searched: the boosts rank them first.
        var enough = HybridRequest(vector: [1, 0.05, 0.05, 0.05], k: 2)
        enough.preferences = [Preference(name: "gender: male", filter: "gender = 'male'", weight: 1)]
        let skipped = try c.hybridSearch(enough)
        XCTAssertTrue(skipped.preferenceArmSkipped)
        XCTAssertEqual(skipped.arms, ["vector"])
        XCTAssertEqual(Set(skipped.hits.map(\.id)), ["b", "d"], "the two men's perfumes lead though the vector points at a")

        // A negative weight demotes; a hard filter and exclusions hold in every arm.
        request.preferences = [Preference(name: "oud", filter: "accords CONTAINS 'oud'", weight: -0.9)]
        r = try c.hybridSearch(request)
        XCTAssertEqual(r.hits.last?.id, "b")
        request = HybridRequest(vector: [0.05, 1, 0.05, 0.05], keywords: "rose", filter: "gender = 'male'", k: 5)
        request.excluded = ["b"]
        r = try c.hybridSearch(request)
        XCTAssertEqual(r.hits.map(\.id), ["d"])

        // Linear fusion: min-max normalised scores, weighted.
        request = HybridRequest(vector: [1, 0.05, 0.05, 0.05], keywords: "vetiver", k: 2)
        request.fusion = .linear
        request.keywordWeight = 0
        XCTAssertEqual(try c.hybridSearch(request).hits.first?.id, "a", "keyword weight 0 leaves the vector order")
        XCTAssertThrowsError(try c.hybridSearch(HybridRequest(keywords: "   ", k: 3)))
    }
}
