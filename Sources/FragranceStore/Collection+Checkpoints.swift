import CKernels
import FragranceCore
import Foundation
import HNSW

// Maintenance under the write lock: compaction, periodic and explicit index saves (the index
// file and the log floor), bulk loads and embedding for writes.
extension Collection {
    /// Compacts the graph when tombstones pass the threshold, saves the index file when the
    /// log has grown enough. Called with the write lock held.
    func maintain() throws {
        scheduleCodeRelease()
        let o = db.options
        if index.deletedCount >= o.compactionMinDeleted && Double(index.deletedCount) > o.compactionRatio * Double(index.count) {
            index = index.compacted()
            try saveIndex()
        } else if appliedSeq - savedSeq >= Int64(o.checkpointEvery) {
            saveIndexInBackground()
        }
    }

    /// With float searches (`Options.searchWithCodes` false), drops the graph's int8 codes once
    /// writes have paused for `codeReleaseDelay`: a fifth of a 384-d index's memory that only
    /// construction then reads (issue #23). Called with the write lock held; the next write
    /// makes them again.
    func scheduleCodeRelease() {
        guard index.hasCodes, !index.searchesWithCodes, !codeReleasePending else { return }   // searches need them
        codeReleasePending = true
        let seen = generation
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + db.options.codeReleaseDelay) { [weak self] in
            guard let self else { return }
            lock.write {
                codeReleasePending = false
                if generation == seen { index.releaseCodes() } else { scheduleCodeRelease() }
            }
        }
    }

    /// Writes the index file and trims the log it covers.
    public func checkpoint() throws {
        try lock.write {
            saves.wait()
            guard !isDropped, appliedSeq != savedSeq else { return }
            try saveIndex()
        }
    }

    /// Waits for a periodic save in flight. Called with the write lock held (a save never
    /// takes it), e.g. before the collection's files are dropped.
    func waitForSave() { saves.wait() }

    /// Rebuilds the graph from live vectors now, dropping every tombstone.
    public func compact() throws {
        try lock.write {
            try checkOpen()
            index = index.compacted()
            try saveIndex()
            scheduleCodeRelease()
        }
    }

    /// Saves now. Called with the write lock held.
    func saveIndex() throws {
        saves.wait()   // one writer of the file at a time
        try persist(IndexFile.begin(index, appliedSeq: appliedSeq, to: db.indexURL(config.name)), through: appliedSeq)
    }

    /// The periodic save: the graph is streamed into the file's page cache here, under the
    /// write lock (as long as copying it took; with no graph-sized copy in memory), and the
    /// file fsynced, renamed and the log trimmed on another thread, so searches and writes do
    /// not wait on the disk (each synchronous save held them up 0.15-0.3 s at 20-40k
    /// perfumes). Skipped while one is in flight; a failed one leaves the old file and the
    /// whole log, and the next write tries again.
    func saveIndexInBackground() {
        // Saves start only under the write lock, so none can begin between this test and enter().
        guard saves.wait(timeout: .now()) == .success else { return }
        let seq = appliedSeq
        let file: IndexFile.Pending
        do { file = try IndexFile.begin(index, appliedSeq: seq, to: db.indexURL(config.name)) } catch {
            saveLock.withLock { lastSaveError = "\(error)" }
            return
        }
        saves.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            defer {
                saves.leave()
                // A build's request buffers are freed by now; give their pages back to the
                // kernel, or the arenas keep them resident (INFO memory: held free).
                DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 0.2) { fdb_heap_trim() }
            }
            do { try persist(file, through: seq) } catch {
                saveLock.withLock { lastSaveError = "\(error)" }
            }
        }
    }

    /// The file first, then the log it makes redundant: a crash between the two replays a few
    /// operations the file already holds, which is harmless.
    func persist(_ file: IndexFile.Pending, through seq: Int64) throws {
        try file.finish()
        try db.sqlLock.withLock {
            try db.sql.transaction {
                try db.sql.statement("DELETE FROM \(tables.log) WHERE seq <= ?").run(.int(seq))
                try db.sql.statement("UPDATE collections SET log_floor = ? WHERE name = ?").run(.int(seq), .text(config.name))
            }
        }
        saveLock.withLock {
            _savedSeq = seq
            lastSaveError = nil
        }
    }

    /// Fills a new, empty collection from a snapshot, keeping row ids so `graph` fits as is.
    func load(rows: [(UInt32, Record)], graph: HNSWIndex) throws {
        try lock.write {
            try db.sqlLock.withLock {
                try db.sql.transaction {
                    let writer = try RowWriter(db.sql, tables)
                    for (rid, r) in rows { try writer.write(rid, r, replacing: false) }
                    try db.replication.append(db.sql, origin: .local, collection: config.name, op: .upsert) {
                        Record.jsonList(rows.map { $0.1 }, includeVectors: true, binaryVectors: true)
                    }
                }
            }
            for (rid, r) in rows {
                attributes.set(rid, r)
                remember(rid, r.id)
            }
            index = graph
            generation &+= 1
            try saveIndex()
        }
    }

    /// Vectors for texts from the collection's embedder (the shared, lazily loaded model):
    /// records at the registry's storage precision, queries in float32.
    func embed(_ texts: [String], forStorage: Bool = false) throws -> [[Float]] {
        guard let name = config.embedder else {
            throw StoreError(.badRequest, "collection '\(config.name)' has no embedder: send vectors, not text")
        }
        guard let models = db.options.models else {
            throw StoreError(.modelUnavailable, "collection '\(config.name)' embeds with \(name), but no model directory is configured")
        }
        do {
            return try models.embed(texts, precision: forStorage ? models.storagePrecision : .float32)
        } catch {
            throw StoreError(.modelUnavailable, "\(error)")
        }
    }

    func checkOpen() throws {
        if isDropped { throw StoreError(.notFound, "collection '\(config.name)' was dropped") }
    }
}
