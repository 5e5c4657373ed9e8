import Foundation
import HNSW

// Opening a collection: the attribute mirror and id maps from SQLite, then the graph from its
// index file caught up by the log, or rebuilt from the stored vectors when the file cannot be used.
extension Collection {

    func loadAttributes() throws {
        let sql = db.sql
        let scalars = tables.scalarFields.filter { $0.type != .text }
        let cols = scalars.map { ", " + Tables.column($0.name) }.joined()
        var records: [UInt32: Record] = [:]
        try sql.statement("SELECT rid, id\(cols) FROM \(tables.records)").forEachRow { row in
            let rid = UInt32(row.int(0))
            var r = Record(id: row.text(1) ?? "")
            row.readScalars(scalars, from: 2, into: &r)
            records[rid] = r
        }
        for f in tables.setFields {
            let tiered = f.type == .tieredSet
            try sql.statement("SELECT rid, value\(tiered ? ", tier" : "") FROM \(tables.set(f.name)) ORDER BY rid, ord").forEachRow { row in
                let rid = UInt32(row.int(0))
                let value = row.text(1) ?? ""
                if tiered {
                    let tier = row.text(2) ?? ""
                    if case .tiered(var t) = records[rid]?.attributes[f.name] {
                        t[tier, default: []].append(value)
                        records[rid]?.attributes[f.name] = .tiered(t)
                    } else {
                        records[rid]?.attributes[f.name] = .tiered([tier: [value]])
                    }
                } else if case .strings(var list) = records[rid]?.attributes[f.name] {
                    list.append(value)
                    records[rid]?.attributes[f.name] = .strings(list)
                } else {
                    records[rid]?.attributes[f.name] = .strings([value])
                }
            }
        }
        for (rid, r) in records.sorted(by: { $0.key < $1.key }) {
            attributes.set(rid, r)
            remember(rid, r.id)
        }
    }

    func remember(_ rid: UInt32, _ id: String) {
        ridOfId[id] = rid
        if Int(rid) >= idOfRid.count { idOfRid += Array(repeating: nil, count: Int(rid) + 1 - idOfRid.count) }
        idOfRid[Int(rid)] = id
        nextRid = max(nextRid, rid + 1)
    }

    func forget(_ rid: UInt32) {
        if let id = idOfRid[Int(rid)] { ridOfId[id] = nil }
        idOfRid[Int(rid)] = nil
    }

    func currentSeq() throws -> Int64 {
        var seq: Int64 = 0
        try db.sql.statement("SELECT seq FROM sqlite_sequence WHERE name = ?").forEachRow(.text(tables.logName)) { seq = $0.int(0) }
        return seq
    }

    func openIndex(logFloor: Int64) throws {
        let url = db.indexURL(config.name)
        let head = try currentSeq()
        appliedSeq = head
        do {
            let loaded = try IndexFile.read(url)
            let l = loaded.index
            guard l.dimension == config.dimension, l.metric == config.metric, l.parameters == config.hnsw else {
                throw IndexFile.Failure.torn("index file was built with other parameters")
            }
            guard loaded.appliedSeq >= logFloor else {
                throw IndexFile.Failure.torn("index file is older (seq \(loaded.appliedSeq)) than the trimmed log (\(logFloor))")
            }
            guard loaded.appliedSeq <= head else {
                throw IndexFile.Failure.torn("index file is ahead of the database (seq \(loaded.appliedSeq) > \(head))")
            }
            index = l
            savedSeq = loaded.appliedSeq
            openReport.source = .loaded
            openReport.replayedOperations = try replayLog(after: loaded.appliedSeq)
            guard index.liveCount == attributes.liveCount else {
                throw IndexFile.Failure.torn("index holds \(index.liveCount) vectors, database \(attributes.liveCount) records")
            }
        } catch let failure as IndexFile.Failure {
            if case .missing = failure, attributes.liveCount == 0 {
                openReport = OpenReport(source: .empty)
            } else {
                openReport = OpenReport(source: .rebuilt, rebuildReason: failure.description)
                try rebuildIndex()
            }
            savedSeq = -1   // force a save at the next checkpoint
        }
    }

    /// Applies logged operations newer than `seq` to the loaded index, in order of record.
    func replayLog(after seq: Int64) throws -> Int {
        var touched = Set<UInt32>()
        var n = 0
        try db.sql.statement("SELECT rid FROM \(tables.log) WHERE seq > ?").forEachRow(.int(seq)) {
            touched.insert(UInt32($0.int(0)))
            n += 1
        }
        for rid in touched.sorted() {
            if let v = try storedVector(rid) { index.insert(v, label: rid) } else { index.markDeleted(label: rid) }
        }
        return n
    }

    func storedVector(_ rid: UInt32) throws -> [Float]? {
        var v: [Float]?
        try db.sql.statement("SELECT vector FROM \(tables.records) WHERE rid = ?").forEachRow(.int(Int64(rid))) { v = $0.floats(0) }
        return v
    }

    func rebuildIndex() throws {
        let fresh = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
        try db.sql.statement("SELECT rid, vector FROM \(tables.records) ORDER BY rid").forEachRow { row in
            if let v = row.floats(1), v.count == config.dimension { fresh.insert(v, label: UInt32(row.int(0))) }
        }
        index = fresh
    }
}
