import Foundation
import XCTest
import TestSupport
@testable import FragranceStore

/// The replication log on real SQLite files: what a primary writes, what a replica applies,
/// and a full sync's copy made consistent by the log while the primary keeps writing.
final class ReplicationLogTests: XCTestCase {
    let dim = 8

    func open(_ dir: URL, backlog: Int = 256 << 20) throws -> Database {
        var o = Database.Options()
        o.replicationBacklogBytes = backlog
        return try Database(directory: dir, options: o)
    }

    /// Every record of every collection, with vectors, by id: what "equal" means for replicas.
    func contents(_ db: Database) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for name in db.collectionNames {
            var lines: [String] = []
            try db.collection(name).forEachRecordById { for r in $0 { lines.append(r.jsonText(includeVector: true)) } }
            out[name] = lines
        }
        return out
    }

    func follow(_ replica: Database, _ primary: Database) throws {
        while true {
            let p = try replica.replicationPosition()
            let entries = try primary.replicationEntries(history: p.history, after: p.last)
            if entries.isEmpty { return }
            for e in entries { try replica.apply(e) }
        }
    }

    func writeMix(_ db: Database, seed: UInt64) throws {
        let c = try db.collection("perfumes")
        let records = Synthetic.records(count: 300, dim: dim, seed: seed)
        try c.upsert(Array(records[0..<200]))
        var changed = Array(records[50..<80])
        for i in changed.indices { changed[i].attributes["brand"] = .string("Rebranded \(seed)") }
        try c.upsert(changed)
        try c.delete((0..<40).map { "p\($0 * 3)" })
        try c.upsert(Array(records[200..<300]))
    }

    func testAReplicaThatAppliesTheLogEndsEqualAndNothingIsAppliedTwice() throws {
        let primary = try open(temporaryDirectory())
        let replica = try open(temporaryDirectory())
        // Another history: the replica must copy first.
        XCTAssertThrowsError(try primary.replicationEntries(history: try replica.replicationPosition().history, after: 0)) {
            XCTAssertEqual(($0 as? StoreError)?.code, .resync)
        }
        try replica.finishFullSync(history: try primary.replicationPosition().history, seq: 0)

        try primary.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try primary.createCollection(CollectionConfig(name: "scratch", dimension: 2, schema: CollectionSchema(fields: []), dynamic: true))
        try primary.collection("scratch").upsert([Record(id: "x", vector: [1, 0], attributes: ["colour": .string("red")])])
        try writeMix(primary, seed: 1)
        try primary.dropCollection("scratch")
        let ops = try primary.replicationEntries(history: try primary.replicationPosition().history, after: 0).map(\.op)
        XCTAssertEqual(ops, [.create, .create, .config, .upsert, .upsert, .upsert, .delete, .upsert, .drop])

        try follow(replica, primary)
        XCTAssertEqual(try contents(replica), try contents(primary))
        XCTAssertEqual(try replica.replicationPosition().last, try primary.replicationPosition().last)

        // The same entries again (a torn stream resent them): skipped, nothing changes.
        let before = try contents(replica)
        for e in try primary.replicationEntries(history: try primary.replicationPosition().history, after: 0) { try replica.apply(e) }
        XCTAssertEqual(try contents(replica), before)

        // Searches agree: the same records and vectors give the same exact neighbours.
        let q = Synthetic.query(dim: dim, seed: 9)
        let a = try primary.collection("perfumes").search(SearchRequest(vector: q, k: 10, exact: true)).hits.map(\.id)
        let b = try replica.collection("perfumes").search(SearchRequest(vector: q, k: 10, exact: true)).hits.map(\.id)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 10)
    }

    func testAResumedReplicaContinuesFromItsLastAppliedSequenceAfterReopening() throws {
        let pdir = temporaryDirectory(), rdir = temporaryDirectory()
        let primary = try open(pdir)
        var replica = try open(rdir)
        try replica.finishFullSync(history: try primary.replicationPosition().history, seq: 0)
        try primary.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try primary.collection("perfumes").upsert(Synthetic.records(count: 50, dim: dim))
        try follow(replica, primary)
        let applied = try replica.replicationPosition().last
        try replica.close()
        try writeMix(primary, seed: 2)
        replica = try open(rdir)
        XCTAssertEqual(try replica.replicationPosition().last, applied, "the applied sequence survives a restart")
        try follow(replica, primary)
        XCTAssertEqual(try contents(replica), try contents(primary))
    }

    /// A replica's data directory refuses writes of its own, from any opener (an offline import
    /// would take a sequence the primary gives another write), until it is promoted.
    func testAReplicaDirectoryRefusesLocalWritesUntilPromoted() throws {
        let dir = temporaryDirectory()
        var db = try open(dir)
        try db.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try db.setPrimary("127.0.0.1:7700")
        try db.close()
        db = try open(dir)
        XCTAssertThrowsError(try db.collection("perfumes").upsert(Synthetic.records(count: 3, dim: dim))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .readOnly)
        }
        XCTAssertThrowsError(try db.dropCollection("perfumes")) { XCTAssertEqual(($0 as? StoreError)?.code, .readOnly) }
        XCTAssertEqual(db.collectionNames, ["perfumes"])
        XCTAssertEqual(try db.collection("perfumes").count, 0)
        try db.promote()
        XCTAssertNoThrow(try db.collection("perfumes").upsert(Synthetic.records(count: 3, dim: dim)))
    }

    func testEntriesNoLongerKeptMeanAFullSync() throws {
        let primary = try open(temporaryDirectory(), backlog: 4096)
        try primary.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        let history = try primary.replicationPosition().history
        for i in 0..<10 { try primary.collection("perfumes").upsert(Synthetic.records(count: 10, dim: dim, seed: UInt64(i))) }
        let p = try primary.replicationPosition()
        XCTAssertGreaterThan(p.floor, 0, "the log was trimmed to its backlog")
        XCTAssertThrowsError(try primary.replicationEntries(history: history, after: 0)) { XCTAssertEqual(($0 as? StoreError)?.code, .resync) }
        XCTAssertNoThrow(try primary.replicationEntries(history: history, after: p.floor))
        XCTAssertThrowsError(try primary.replicationEntries(history: history, after: p.last + 5)) { XCTAssertEqual(($0 as? StoreError)?.code, .resync) }

        // No backlog at all (an offline import): the sequence moves, nothing is kept.
        let bare = try open(temporaryDirectory(), backlog: 0)
        try bare.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try bare.collection("perfumes").upsert(Synthetic.records(count: 10, dim: dim))
        let b = try bare.replicationPosition()
        XCTAssertEqual(b.last, 2)
        XCTAssertEqual(b.floor, 2)
    }

    /// The copy runs page by page while the primary updates, deletes and inserts between the
    /// pages; following the log from where the copy began makes the copy exact.
    func testAFullSyncCopiedWhileThePrimaryWritesEndsEqual() throws {
        let primary = try open(temporaryDirectory())
        try primary.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try primary.collection("perfumes").upsert(Synthetic.records(count: 400, dim: dim))
        let start = try primary.replicationPosition()

        let replica = try open(temporaryDirectory())
        try replica.createCollection(CollectionConfig(name: "stale", dimension: 2, schema: CollectionSchema(fields: [])))
        try replica.beginFullSync()
        XCTAssertTrue(try replica.replicationPosition().syncing)
        XCTAssertEqual(replica.collectionNames, [])
        try replica.createCopy(try primary.collection("perfumes").config)
        var after: Int64 = -1, pages = 0
        while true {
            let page = try primary.collection("perfumes").page(afterRid: after, limit: 64)
            try replica.copyRecords(page.records, into: "perfumes")
            pages += 1
            // Between pages the primary moves on: records already copied change or go, new ones come.
            if pages == 2 { try writeMix(primary, seed: 3) }
            if pages == 4 { try primary.collection("perfumes").delete(["p1", "p2", "p399"]) }
            guard let next = page.next else { break }
            after = next
        }
        try replica.finishFullSync(history: start.history, seq: start.last)
        XCTAssertFalse(try replica.replicationPosition().syncing)
        XCTAssertNotEqual(try contents(replica), try contents(primary), "the copy alone is fuzzy")
        try follow(replica, primary)
        XCTAssertEqual(try contents(replica), try contents(primary))
    }

    /// A promoted replica starts a history of its own that continues the old one up to the
    /// promotion: a replica of the old primary at or below it follows without a copy; one
    /// that had entries past it (the old primary wrote on) must copy.
    func testPromotionContinuesTheOldHistoryUpToWhereItParts() throws {
        let primary = try open(temporaryDirectory())
        let a = try open(temporaryDirectory()), b = try open(temporaryDirectory())
        let old = try primary.replicationPosition().history
        for r in [a, b] { try r.finishFullSync(history: old, seq: 0) }
        try primary.createCollection(CollectionConfig(name: "perfumes", dimension: dim, schema: .perfume))
        try primary.collection("perfumes").upsert(Synthetic.records(count: 30, dim: dim))
        try follow(a, primary)
        try follow(b, primary)
        try primary.collection("perfumes").delete(["p0"])   // only b sees it
        try follow(b, primary)

        try a.promote()
        let promoted = try a.replicationPosition()
        XCTAssertNotEqual(promoted.history, old)
        XCTAssertEqual(promoted.previousHistory, old)
        try a.collection("perfumes").upsert(Synthetic.records(count: 5, dim: dim, seed: 7))
        XCTAssertThrowsError(try a.replicationEntries(history: old, after: try b.replicationPosition().last)) {
            XCTAssertEqual(($0 as? StoreError)?.code, .resync, "b holds a write a never had")
        }
        let c = try open(temporaryDirectory())
        try c.finishFullSync(history: old, seq: 0)
        try c.createCopy(try a.collection("perfumes").config)
        let entries = try a.replicationEntries(history: old, after: promoted.previousUntil)
        XCTAssertEqual(entries.map(\.op), [.upsert], "continues after the promotion point")
    }
}
