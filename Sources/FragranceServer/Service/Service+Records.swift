import FragranceProtocol
import FragranceStore
import Foundation

// UPSERT, GET, EXISTS, DEL, COUNT — and their HTTP routes.
extension FragranceService {
    /// All or none per batch of `limits.maxBatch`; `bulk` (NDJSON over HTTP) may send more,
    /// committed batch by batch.
    public func upsert(_ collectionName: String, _ records: [Record], bulk: Bool = false) throws -> UpsertReply {
        try checkWritable()
        guard !records.isEmpty else { throw ProtocolError(.badRequest, "no records to upsert") }
        if !bulk { try checkBatch(records.count, "records") }
        let c = try collection(collectionName)
        var inserted = 0, updated = 0
        for start in stride(from: 0, to: records.count, by: limits.maxBatch) {
            let w = try c.upsert(Array(records[start..<min(start + limits.maxBatch, records.count)]))
            inserted += w.inserted
            updated += w.updated
        }
        return UpsertReply(inserted: inserted, updated: updated, records: records.count)
    }

    /// Bulk writes item by item (Elasticsearch's `_bulk`): every good record is written, each
    /// bad one answered with its own error. Batches of `limits.maxBatch` commit whole; a batch
    /// that fails is split in halves until the failing records stand alone, so one bad record
    /// costs a few transactions, not one per record.
    public func upsertItems(_ collectionName: String, _ items: [BulkItem]) throws -> BulkReply {
        try checkWritable()
        guard !items.isEmpty else { throw ProtocolError(.badRequest, "no records to upsert") }
        let c = try collection(collectionName)
        var results = [BulkReply.Item?](repeating: nil, count: items.count)
        var good: [(index: Int, record: Record)] = []
        for (i, item) in items.enumerated() {
            switch item.record {
            case .success(let r): good.append((i, r))
            case .failure(let e):
                results[i] = .init(line: item.line, id: item.id, result: "error", error: .init(code: e.code.rawValue, message: e.message, field: e.field))
            }
        }
        func write(_ part: ArraySlice<(index: Int, record: Record)>) {
            guard !part.isEmpty else { return }
            let stored = c.existing(part.map(\.record.id))
            do {
                _ = try c.upsert(part.map(\.record))
                var seen = Set<String>()
                for (i, r) in part {
                    // A repeated id within the part: its first is an insert, the later ones updates.
                    let result = stored.contains(r.id) || !seen.insert(r.id).inserted ? "updated" : "inserted"
                    results[i] = .init(line: items[i].line, id: r.id, result: result, error: nil)
                }
            } catch {
                if part.count == 1, let (i, r) = part.first {
                    let e = failure(error)
                    results[i] = .init(line: items[i].line, id: r.id, result: "error", error: .init(code: e.code.rawValue, message: e.message, field: e.field))
                    return
                }
                let mid = part.startIndex + part.count / 2
                write(part[..<mid])
                write(part[mid...])
            }
        }
        for start in stride(from: 0, to: good.count, by: limits.maxBatch) { write(good[start..<min(start + limits.maxBatch, good.count)]) }
        let list = results.map { $0! }
        return BulkReply(items: list, inserted: list.filter { $0.result == "inserted" }.count, updated: list.filter { $0.result == "updated" }.count,
                         errors: list.filter { $0.error != nil }.count)
    }

    public func get(_ collectionName: String, id: String) throws -> Record {
        let c = try collection(collectionName)
        guard let r = try c.get(id) else { throw notFound(id, in: c) }
        return r
    }

    /// The ids of `ids` that are stored, in the order asked.
    public func exists(_ collectionName: String, _ ids: [String]) throws -> [String] {
        guard !ids.isEmpty else { throw ProtocolError(.badRequest, "give at least one id") }
        try checkBatch(ids.count, "ids")
        let stored = try collection(collectionName).existing(ids)
        return ids.filter { stored.contains($0) }
    }

    /// How many of `ids` existed. `requireAll`: NOT_FOUND when one id is missing (HTTP's
    /// DELETE of one record), nothing deleted then.
    public func delete(_ collectionName: String, _ ids: [String], requireAll: Bool = false) throws -> DeleteReply {
        try checkWritable()
        guard !ids.isEmpty else { throw ProtocolError(.badRequest, "give at least one id") }
        try checkBatch(ids.count, "ids")
        let c = try collection(collectionName)
        if requireAll, let missing = ids.first(where: { !c.existing([$0]).contains($0) }) { throw notFound(missing, in: c) }
        return DeleteReply(deleted: try c.delete(ids))
    }

    public func count(_ collectionName: String, filter: FilterInput = .none) throws -> CountReply {
        let c = try collection(collectionName)
        return CountReply(count: try c.count(filter: try filter.expression(for: c.config.schema)))
    }

    func notFound(_ id: String, in c: FragranceStore.Collection) -> ProtocolError {
        ProtocolError(.notFound, "no record '\(id)' in '\(c.config.name)'")
    }
}

/// One line of a bulk write: the record it parsed to, or why it did not.
public struct BulkItem: Sendable {
    public var line: Int
    public var id: String?
    public var record: Result<Record, ProtocolError>
    public init(line: Int, id: String?, record: Result<Record, ProtocolError>) {
        self.line = line
        self.id = id
        self.record = record
    }
}

public struct BulkReply: Encodable, Sendable {
    public struct Item: Encodable, Sendable {
        public struct Failure: Encodable, Sendable {
            var code: String, message: String
            var field: String?
        }
        var line: Int
        @Nullable var id: String?
        /// inserted, updated or error.
        var result: String
        var error: Failure?
    }
    var items: [Item]
    var inserted: Int, updated: Int, errors: Int
}
