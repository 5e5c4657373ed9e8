import Crypto
import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation

// REPLICAOF, WAIT, DIGEST, REPLSTATE, REPLLOG, REPLPAGE — and POST /api/v1/admin/replicaof,
// POST /api/v1/replication/wait, GET /api/v1/collections/{name}/digest,
// GET /api/v1/replication/state, /log and /page/{collection}.
//
// A replica follows its primary as Redis's does: a full copy, then the primary's log of
// operations, applied in order with the primary's sequences (FragranceStore's
// ReplicationLog). The follower (Replication/ReplicaFollower.swift) speaks the line protocol
// to the primary with the REPL* commands below.

/// The replication format: a replica refuses a primary of another.
let replicationFormat = 1

public struct ReplicationStateReply: Encodable, Sendable {
    var server = "fragrancedb", version = FragranceVersion.current, format = replicationFormat
    var node: String, history: String, seq: Int64, floor: Int64, at: Double
    var collections: [CollectionConfig]
}

/// Entries after a sequence: the last sequence the primary has (and when it said so), then the
/// entries. Written by hand: each body is JSON already and goes out as it is.
public struct ReplicationLogReply: Sendable {
    public var last: Int64
    public var at: Double
    public var entries: [ReplicationEntry]

    var headerLine: String { "{\"at\":\(at),\"last\":\(last)}" }

    /// `{"at", "collection", "op", "seq", "body"}`, the body last (the follower splits there).
    static func entryLine(_ e: ReplicationEntry) -> String {
        "{\"at\":\(e.at),\"collection\":\(JSONWriter.quoted(e.collection)),\"op\":\"\(e.op.rawValue)\",\"seq\":\(e.seq),\"body\":\(e.body)}"
    }

    var lines: [String] { [headerLine] + entries.map(Self.entryLine) }

    var json: String {
        "{\"at\":\(at),\"last\":\(last),\"entries\":[" + entries.map(Self.entryLine).joined(separator: ",") + "]}"
    }

    /// Reads an entry line back (the follower's side).
    static func entry(_ line: String) throws -> ReplicationEntry {
        guard let split = line.range(of: ",\"body\":"), line.hasSuffix("}") else {
            throw ProtocolError(.protocolViolation, "not a log entry: \(line.prefix(80))")
        }
        let head = String(line[..<split.lowerBound]) + "}"
        guard let o = try? JSONSerialization.jsonObject(with: Data(head.utf8)) as? [String: Any],
              let seq = (o["seq"] as? NSNumber)?.int64Value, let collection = o["collection"] as? String,
              let op = (o["op"] as? String).flatMap(ReplicationEntry.Op.init(rawValue:)), let at = (o["at"] as? NSNumber)?.doubleValue
        else { throw ProtocolError(.protocolViolation, "not a log entry: \(line.prefix(80))") }
        let body = String(line[split.upperBound...].dropLast())
        return ReplicationEntry(seq: seq, collection: collection, op: op, body: body, at: at)
    }
}

/// A page of a collection for a full sync: records with "b64:" vectors, and the row to continue after.
public struct ReplicationPageReply: Sendable {
    var records: [Record]
    var next: Int64?
    var recordLines: [String] { records.map { $0.jsonText(includeVector: true, binaryVector: true) } }
    var tailLine: String { "{\"next\":\(next.map(String.init) ?? "null")}" }
    var json: String { "{\"records\":[" + recordLines.joined(separator: ",") + "],\"next\":\(next.map(String.init) ?? "null")}" }
}

public struct DigestReply: Encodable, Sendable {
    var collection: String, records: Int, sha256: String
}

public struct WaitReply: Encodable, Sendable {
    /// Replicas that have applied every write up to `seq`.
    var replicas: Int
    var seq: Int64
}

public struct ReplicaOfReply: Encodable, Sendable {
    var role: String
    @Nullable var primary: String?
    var message: String
}

/// Who this server is in replication and what it knows of the others: the follower's state
/// on a replica, the replicas that asked for the log on a primary.
public final class ReplicationController: @unchecked Sendable {
    /// This process, so a server told to follow itself can tell.
    public let node = (0..<2).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
    /// A replica's /ready fails beyond this lag.
    public var maxLagSeconds: Double = 10
    /// The key a replica authenticates with at its primary (a `replication` role key).
    public var primaryKey: String?

    let lock = NSLock()
    /// Requests that may wait (REPLLOG's long poll, WAIT) hold a command or pool thread
    /// while they do: at most this many of each wait at once, the rest answer at once, so
    /// waiting requests never hold more than 5 of the 8 threads of either pool (replicas are
    /// few; a flood of long polls is an attack). A replica answered at once polls again shortly.
    public enum Wait: Sendable { case poll, replicas }
    static let maxWaiting: [Wait: Int] = [.poll: 3, .replicas: 2]
    private var waiting: [Wait: Int] = [:]
    var follower: ReplicaFollower?
    var status = FollowerStatus()
    var replicas: [String: ReplicaSeen] = [:]

    public init() {}

    struct FollowerStatus: Sendable {
        /// connecting, syncing, following, or the error that stopped the last attempt.
        var state = "connecting"
        var primarySeq: Int64 = 0
        var applied: Int64 = 0
        /// When the primary's entry after `applied` was committed (lag in seconds), nil when caught up.
        var oldestUnapplied: Double?
        var lastContact: Date?
        var lastError: String?
        var fullSyncs = 0
    }

    struct ReplicaSeen: Sendable {
        var address: String, acked: Int64, lastSeen: Date
    }

    var primary: String? { lock.withLock { follower?.primary } }

    /// Stops the follower, if any, and forgets it; returns it (nil: this was no replica).
    @discardableResult
    func stopFollowing() -> ReplicaFollower? {
        let f = lock.withLock { () -> ReplicaFollower? in
            defer { follower = nil }
            return follower
        }
        f?.stop()
        return f
    }

    /// A slot to wait in, or false when `maxWaiting` requests already wait.
    func beginWaiting(_ kind: Wait) -> Bool {
        lock.withLock {
            guard waiting[kind, default: 0] < Self.maxWaiting[kind]! else { return false }
            waiting[kind, default: 0] += 1
            return true
        }
    }

    func endWaiting(_ kind: Wait) { lock.withLock { waiting[kind, default: 1] -= 1 } }

    func update(_ body: (inout FollowerStatus) -> Void) { lock.withLock { body(&status) } }

    /// A replica asked for the log after `acked`. Replicas not heard from for an hour are
    /// forgotten, and at most 256 are remembered (a node id is the replica's to choose).
    func saw(_ node: String, address: String, acked: Int64) {
        lock.withLock {
            let now = Date()
            replicas[node] = .init(address: address, acked: acked, lastSeen: now)
            if replicas.count > 256 {
                replicas = replicas.filter { now.timeIntervalSince($0.value.lastSeen) < 3600 }
                while replicas.count > 256, let oldest = replicas.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key { replicas[oldest] = nil }
            }
        }
    }
}

extension FragranceService {
    var replication: ReplicationController { replicationController }

    /// Refuses writes on a replica, naming the primary.
    func checkWritable() throws {
        if let primary = replication.primary {
            throw ProtocolError(.readOnly, "this server is a read-only replica of \(primary); send writes to the primary")
        }
    }

    // MARK: Roles

    /// REPLICAOF host port: follow `host:port` (a full copy unless this database already
    /// follows that history); REPLICAOF NO ONE (nil): stop and accept writes.
    public func replicaOf(_ target: (host: String, port: Int)?) throws -> ReplicaOfReply {
        guard let target else {
            let stopped = replication.stopFollowing()
            let position = try database.replicationPosition()
            if stopped != nil || position.primary != nil {
                guard !position.syncing else {
                    // Half a copy must not take writes as if it were the data set.
                    try database.setPrimary(nil)
                    throw ProtocolError(.badRequest, "promoted mid full sync: the collections are a partial copy; follow a primary again or restore them")
                }
                try database.promote()
                return ReplicaOfReply(role: "primary", primary: nil, message: "promoted: accepting writes from sequence \(position.last)")
            }
            return ReplicaOfReply(role: "primary", primary: nil, message: "already a primary")
        }
        // A host name or an IP address: anything else would only be retried forever.
        guard !target.host.isEmpty, target.host.utf8.count <= 255,
              target.host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:[]_".unicodeScalars.contains($0)) })
        else { throw ProtocolError(.badValue, "REPLICAOF host must be a host name or an IP address, got \(printable(target.host))", field: "host") }
        guard (1...65535).contains(target.port) else {
            throw ProtocolError(.badValue, "REPLICAOF port must be 1 to 65535, got \(target.port)", field: "port")
        }
        let address = "\(target.host):\(target.port)"
        // A definite refusal (not FragranceDB, another format, this server) is the caller's
        // error now; a primary that is down is only retried, as Redis does.
        var note = ""
        do {
            let probe = try LineSocket(host: target.host, port: target.port, timeoutSeconds: 5)
            defer { probe.close() }
            _ = try ReplicaFollower.handshake(probe, primary: address, key: replication.primaryKey, node: replication.node)
        } catch let e as ProtocolError where e.code == .badPrimary {
            throw e
        } catch {
            note = " (not reachable yet: \((error as? ProtocolError)?.message ?? "\(error)"); retrying)"
        }
        replication.stopFollowing()
        try database.setPrimary(address)
        let follower = ReplicaFollower(service: self, host: target.host, port: target.port)
        replication.lock.withLock {
            replication.follower = follower
            replication.status = .init()
        }
        follower.start()
        return ReplicaOfReply(role: "replica", primary: address, message: "following \(address)\(note)")
    }

    /// Stops the follower (shutdown): the database must not be closed under it.
    public func stopReplication() {
        let f = replication.lock.withLock { replication.follower }
        f?.stop()
    }

    /// Starts following the primary this data directory remembers (a replica restarted).
    public func resumeReplication() throws {
        guard let primary = try database.replicationPosition().primary,
              let colon = primary.lastIndex(of: ":"), let port = Int(primary[primary.index(after: colon)...]) else { return }
        _ = try replicaOf((String(primary[..<colon]), port))
    }

    /// WAIT n timeout_ms: until `n` replicas have asked for the log after this server's last
    /// sequence (so have applied it), or the timeout; how many have.
    public func waitForReplicas(_ n: Int, timeoutMs: Int) throws -> WaitReply {
        guard n >= 0 else { throw ProtocolError(.outOfRange, "replicas must be 0 or more, got \(n)", field: "replicas") }
        guard (0...60_000).contains(timeoutMs) else { throw ProtocolError(.outOfRange, "timeout_ms must be 0 to 60000, got \(timeoutMs)", field: "timeout_ms") }
        let seq = try database.replicationPosition().last
        let slot = timeoutMs > 0 && replication.beginWaiting(.replicas)
        defer { if slot { replication.endWaiting(.replicas) } }
        let deadline = Date().addingTimeInterval(slot ? Double(timeoutMs) / 1000 : 0)
        while true {
            let have = replication.lock.withLock { replication.replicas.values.filter { $0.acked >= seq }.count }
            if have >= n || Date() >= deadline { return WaitReply(replicas: have, seq: seq) }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    // MARK: What replicas ask

    public func replicationState() throws -> ReplicationStateReply {
        let p = try database.replicationPosition()
        return ReplicationStateReply(node: replication.node, history: p.history, seq: p.last, floor: p.floor,
                                     at: Date().timeIntervalSince1970,
                                     collections: try database.collectionNames.map { try database.collection($0).config })
    }

    /// Entries after `after`; `node`/`address` identify the replica (its request acknowledges `after`).
    public func replicationLog(history: String, after: Int64, count: Int = 1000, waitMs: Int = 0, node: String? = nil,
                               address: String? = nil) throws -> ReplicationLogReply {
        guard after >= 0 else { throw ProtocolError(.outOfRange, "after_seq must be 0 or more, got \(after)", field: "after") }
        guard (1...100_000).contains(count) else { throw ProtocolError(.outOfRange, "COUNT must be 1 to 100000, got \(count)", field: "count") }
        guard (0...60_000).contains(waitMs) else { throw ProtocolError(.outOfRange, "WAIT must be 0 to 60000 ms, got \(waitMs)", field: "wait_ms") }
        if let node {
            guard node.count <= 64, node.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw ProtocolError(.badValue, "NODE must be 1-64 letters, digits, '-' or '_'", field: "node")
            }
            replication.saw(node, address: address ?? "?", acked: after)
        }
        let slot = waitMs > 0 && replication.beginWaiting(.poll)
        defer { if slot { replication.endWaiting(.poll) } }
        let entries = try database.replicationEntries(history: history, after: after, maxCount: count, wait: slot ? Double(waitMs) / 1000 : 0)
        let p = try database.replicationPosition()
        return ReplicationLogReply(last: p.last, at: Date().timeIntervalSince1970, entries: entries)
    }

    public func replicationPage(_ collectionName: String, afterRow: Int64, count: Int = 500) throws -> ReplicationPageReply {
        guard afterRow >= -1 else { throw ProtocolError(.outOfRange, "after_row must be -1 or more, got \(afterRow)", field: "after") }
        guard (1...10_000).contains(count) else { throw ProtocolError(.outOfRange, "COUNT must be 1 to 10000, got \(count)", field: "count") }
        let page = try collection(collectionName).page(afterRid: afterRow, limit: count)
        return ReplicationPageReply(records: page.records, next: page.next)
    }

    /// SHA-256 over every record (its JSON with sorted keys, then its vector's float32 bytes) in id order.
    public func digest(_ collectionName: String) throws -> DigestReply {
        let c = try collection(collectionName)
        var hash = SHA256()
        var n = 0
        try c.forEachRecordById { records in
            for r in records {
                hash.update(data: Data(r.jsonText(includeVector: false).utf8))
                (r.vector ?? []).withUnsafeBytes { hash.update(bufferPointer: $0) }
                n += 1
            }
        }
        return DigestReply(collection: collectionName, records: n, sha256: hash.finalize().map { String(format: "%02x", $0) }.joined())
    }

    // MARK: Reporting

    func replicationInfo() -> InfoReply.Replication {
        let p = try? database.replicationPosition()
        let (follower, status, replicas) = replication.lock.withLock { (replication.follower, replication.status, replication.replicas) }
        let now = Date()
        let seen = replicas.sorted { $0.key < $1.key }.filter { now.timeIntervalSince($0.value.lastSeen) < 3600 }.map {
            InfoReply.Replication.Replica(node: $0.key, address: $0.value.address, acked: $0.value.acked,
                                          lagOperations: max(0, (p?.last ?? 0) - $0.value.acked),
                                          lastSeenSecondsAgo: (now.timeIntervalSince($0.value.lastSeen) * 1000).rounded() / 1000)
        }
        var r = InfoReply.Replication(role: follower == nil ? "primary" : "replica", primary: follower?.primary, node: replication.node,
                                      history: p?.history ?? "", seq: p?.last ?? 0, floor: p?.floor ?? 0, replicas: seen)
        if follower != nil {
            r.state = status.state
            r.primarySeq = status.primarySeq
            r.lagOperations = max(0, status.primarySeq - (p?.last ?? 0))
            r.lagSeconds = status.oldestUnapplied.map { max(0, (now.timeIntervalSince1970 - $0) * 1000).rounded() / 1000 } ?? 0
            r.lastContactSecondsAgo = status.lastContact.map { (now.timeIntervalSince($0) * 1000).rounded() / 1000 }
            r.lastError = status.lastError
            r.fullSyncs = status.fullSyncs
        }
        return r
    }

    /// Why a replica should not take reads yet (nil when it may): syncing, never reached its
    /// primary, or further behind than `maxLagSeconds`.
    public func replicaNotReady() -> String? {
        let info = replicationInfo()
        guard info.role == "replica" else { return nil }
        if info.state != "following" { return "replica is \(info.state ?? "starting")" }
        if let lag = info.lagSeconds, lag > replication.maxLagSeconds {
            return "replica is \(lag) s behind its primary (limit \(replication.maxLagSeconds) s)"
        }
        if let contact = info.lastContactSecondsAgo, contact > max(replication.maxLagSeconds, 5) {
            return "replica has not heard from its primary for \(contact) s"
        }
        return nil
    }
}

extension InfoReply {
    public struct Replication: Encodable, Sendable {
        struct Replica: Encodable, Sendable {
            var node: String, address: String, acked: Int64, lagOperations: Int64, lastSeenSecondsAgo: Double
            enum CodingKeys: String, CodingKey {
                case node, address, acked, lagOperations = "lag_operations", lastSeenSecondsAgo = "last_seen_seconds_ago"
            }
        }
        var role: String
        @Nullable var primary: String?
        var node: String, history: String
        /// The last sequence written (primary) or applied (replica).
        var seq: Int64, floor: Int64
        var replicas: [Replica]
        var state: String?
        var primarySeq: Int64?
        var lagOperations: Int64?
        var lagSeconds: Double?
        var lastContactSecondsAgo: Double?
        var lastError: String?
        var fullSyncs: Int?
        enum CodingKeys: String, CodingKey {
            case role, primary, node, history, seq, floor, replicas, state
            case primarySeq = "primary_seq", lagOperations = "lag_operations", lagSeconds = "lag_seconds"
            case lastContactSecondsAgo = "last_contact_seconds_ago", lastError = "last_error", fullSyncs = "full_syncs"
        }
    }
}
