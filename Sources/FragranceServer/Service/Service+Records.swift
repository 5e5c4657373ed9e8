import FragranceProtocol
import FragranceStore
import Foundation

// UPSERT, GET, EXISTS, DEL, COUNT — and their HTTP routes.
extension FragranceService {
    /// All or none per batch of `limits.maxBatch`; `bulk` (NDJSON over HTTP) may send more,
    /// committed batch by batch.
    public func upsert(_ collectionName: String, _ records: [Record], bulk: Bool = false) throws -> UpsertReply {
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
