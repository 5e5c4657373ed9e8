import FragranceCore
import FragranceProtocol
import FragranceStore
import HNSW
import Foundation
import CKernels

// INFO [section], SLOWLOG GET|LEN|RESET, CLIENT LIST — and GET /api/v1/info, /slowlog, /clients.

public struct SlowlogReply: Encodable, Sendable {
    struct Entry: Encodable, Sendable {
        var id: Int, startedAt: Double, microseconds: UInt64, command: String, arguments: [String], client: String, surface: String
        enum CodingKeys: String, CodingKey { case id, microseconds, command, arguments, client, surface, startedAt = "started_at" }
    }
    var entries: [Entry]
    /// Entries kept, over all (GET shows the newest `count`).
    var length: Int
    var thresholdMs: Double?
    enum CodingKeys: String, CodingKey { case entries, length, thresholdMs = "threshold_ms" }
}

public struct SlowlogResetReply: Encodable, Sendable { var reset: Int }

public struct ClientListReply: Encodable, Sendable {
    struct Client: Encodable, Sendable {
        var id: Int, address: String, ageSeconds: Double, idleSeconds: Double, commands: Int
        @Nullable var lastCommand: String?
        @Nullable var role: String?
        enum CodingKeys: String, CodingKey {
            case id, address, commands, role, ageSeconds = "age_seconds", idleSeconds = "idle_seconds", lastCommand = "last_command"
        }
    }
    var clients: [Client]
}

extension FragranceService {
    /// Every section, or one of `InfoReply.sections`.
    public func info(section: String? = nil) throws -> InfoReply {
        let wanted = section?.lowercased()
        if let wanted, wanted != "all", wanted != "everything", !InfoReply.sections.contains(wanted) {
            throw ProtocolError(.badValue, "no INFO section '\(section!)'\(suggestion(wanted, among: InfoReply.sections)); sections: \(InfoReply.sections.joined(separator: ", ")), all",
                                field: "section")
        }
        func want(_ s: String) -> Bool { wanted == nil || wanted == "all" || wanted == "everything" || wanted == s }
        var reply = InfoReply(uptimeSeconds: (activity.uptimeSeconds * 1000).rounded() / 1000)
        let collections = want("collections") || want("memory") || want("persistence")
            ? database.collectionNames.compactMap { try? describe($0) } : []
        if want("server") {
            let started = ISO8601DateFormatter().string(from: activity.startedAt)
            reply.serverSection = .init(version: FragranceVersion.current, pid: ProcessInfo.processInfo.processIdentifier, startedAt: started,
                                        uptimeSeconds: reply.uptimeSeconds, dataDirectory: database.directory.path)
        }
        if want("clients") { reply.clients = .init(connected: activity.clients.count, connectionsTotal: activity.connectionsTotal) }
        if want("stats") {
            let commands = activity.commandStats.sorted { $0.key < $1.key }.map { name, s in
                InfoReply.CommandLine(command: name, calls: s.calls, errors: s.errors,
                                      usecPerCall: s.calls == 0 ? 0 : (Double(s.microseconds) / Double(s.calls) * 10).rounded() / 10)
            }
            let q = queryCache.stats
            reply.stats = .init(calls: commands.reduce(0) { $0 + $1.calls }, errors: commands.reduce(0) { $0 + $1.errors },
                                slowlogLength: activity.slowLogCount, commands: commands,
                                queryCache: .init(entries: q.entries, bytes: q.bytes, hits: q.hits, misses: q.misses))
        }
        if want("memory") { reply.memory = memory(indexBytes: collections.reduce(0) { $0 + $1.indexBytes }) }
        if want("persistence") {
            reply.persistence = .init(dataDirectory: database.directory.path, unsavedOperations: collections.reduce(0) { $0 + $1.unsavedOperations },
                                      indexSaveErrors: collections.compactMap { c in c.indexSaveError.map { "\(c.name): \($0)" } })
        }
        if want("collections") { reply.collections = collections }
        if want("model") {
            var model: ModelBody?
            if let m = models?.stats {
                model = ModelBody(directory: m.directory, loaded: m.loaded, mappedBytes: m.mappedBytes, calls: m.calls,
                                  textsEmbedded: m.textsEmbedded, loadSeconds: m.loadSeconds, lastError: m.lastError)
            }
            reply.model = Nullable(wrappedValue: model)
        }
        if want("replication") { reply.replication = replicationInfo() }
        return reply
    }

    func memory(indexBytes: Int) -> InfoReply.Memory {
        var use = HNSWIndex.MemoryUse(), live = 0
        for name in database.collectionNames {
            guard let c = try? database.collection(name) else { continue }
            let s = c.stats
            use.vectors += s.graphMemory.vectors
            use.codes += s.graphMemory.codes
            use.links += s.graphMemory.links
            use.bookkeeping += s.graphMemory.bookkeeping
            live += s.records
        }
        func per(_ n: Int) -> Double { live == 0 ? 0 : (Double(n) / Double(live) * 10).rounded() / 10 }
        func bytes(_ u: HNSWIndex.MemoryUse, _ f: (Int) -> Double) -> InfoReply.GraphMemory {
            InfoReply.GraphMemory(vectors: f(u.vectors), codes: f(u.codes), links: f(u.links), bookkeeping: f(u.bookkeeping), total: f(u.total))
        }
        var inUse = 0, heldFree = 0
        fdb_heap_stats(&inUse, &heldFree)
        let model: Int = models?.stats.mappedBytes ?? 0
        return InfoReply.Memory(rssBytes: residentBytes(), indexBytes: indexBytes, graph: bytes(use) { Double($0) }, perVector: bytes(use, per),
                                heapInUseBytes: inUse, heapFreeBytes: heldFree, sqliteBytes: database.sqliteMemoryBytes, modelMappedBytes: model)
    }

    /// The newest `count` (default 10, at most the log's length) slow commands, newest first.
    public func slowlog(count: Int = 10) throws -> SlowlogReply {
        guard count >= 0 else { throw ProtocolError(.outOfRange, "count must be 0 or more, got \(count)", field: "count") }
        let entries = activity.slowLog(count).map {
            SlowlogReply.Entry(id: $0.id, startedAt: ($0.startedAt * 1000).rounded() / 1000, microseconds: $0.microseconds, command: $0.command,
                               arguments: $0.arguments, client: $0.client, surface: $0.surface)
        }
        return SlowlogReply(entries: entries, length: activity.slowLogCount,
                            thresholdMs: activity.slowThresholdMicroseconds.map { Double($0) / 1000 })
    }

    public func slowlogReset() -> SlowlogResetReply {
        let n = activity.slowLogCount
        activity.resetSlowLog()
        return SlowlogResetReply(reset: n)
    }

    /// The open line-protocol connections, oldest first.
    public func clientList() -> ClientListReply {
        let now = Date().timeIntervalSince1970
        func round(_ d: Double) -> Double { (d * 1000).rounded() / 1000 }
        return ClientListReply(clients: activity.clients.map {
            .init(id: $0.id, address: $0.address, ageSeconds: round(now - $0.connectedAt), idleSeconds: round(now - $0.lastActive),
                  commands: $0.commands, lastCommand: $0.lastCommand, role: $0.role)
        })
    }
}
