import FragranceProtocol
import FragranceStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A replica's one connection to its primary, on a thread of its own: handshake (HELLO, AUTH
/// with a `replication` key, REPLSTATE: a FragranceDB of this replication format that is not
/// this process), then REPLLOG from the last applied sequence, long-polling, applying each
/// entry with the primary's sequence. RESYNC (another history, or entries no longer kept)
/// means a full sync: every collection copied page by page with REPLPAGE while the primary
/// takes writes, made consistent by following the log from where the copy started.
/// A broken connection is retried with backoff; a refusal (BAD_PRIMARY) stops it.
final class ReplicaFollower: @unchecked Sendable {
    let host: String
    let port: Int
    var primary: String { "\(host):\(port)" }
    private unowned let service: FragranceService
    private let lock = NSLock()
    private var stopped = false
    private var socket: LineSocket?
    private let done = DispatchSemaphore(value: 0)

    init(service: FragranceService, host: String, port: Int) {
        self.service = service
        self.host = host
        self.port = port
    }

    private var controller: ReplicationController { service.replication }
    private var database: Database { service.database }

    func start() {
        let t = Thread { [self] in run(); done.signal() }
        t.name = "replica-follower"
        t.start()
    }

    /// Stops following and waits for the thread (at most a few seconds: its socket is shut).
    func stop() {
        lock.withLock {
            stopped = true
            socket?.shutdown()
        }
        _ = done.wait(timeout: .now() + 10)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func run() {
        var backoff = 0.1
        while !isStopped {
            do {
                try session()
            } catch let e as ProtocolError where e.code == .badPrimary {
                controller.update { $0.state = "refused"; $0.lastError = e.message }
                return
            } catch {
                if isStopped { return }
                let message = (error as? ProtocolError)?.message ?? "\(error)"
                controller.update { $0.state = "connecting"; $0.lastError = message }
            }
            Thread.sleep(forTimeInterval: backoff)
            backoff = min(backoff * 2, 2)
        }
    }

    // MARK: One connection

    private func session() throws {
        let conn = try LineSocket(host: host, port: port)
        lock.withLock { socket = conn }
        defer {
            lock.withLock { socket = nil }
            conn.close()
        }
        if isStopped { return }
        let state = try Self.handshake(conn, primary: primary, key: controller.primaryKey, node: controller.node)
        var position = try database.replicationPosition()
        if position.syncing {
            try fullSync(conn)
            position = try database.replicationPosition()
        }
        var history = position.history
        var applied = position.last
        controller.update { $0.primarySeq = state.seq }
        while !isStopped {
            let asked = Date()
            let reply = try conn.request("REPLLOG \(history) \(applied) COUNT 1000 WAIT 1000 NODE \(controller.node)")
            guard case .lines(let lines) = reply else {
                if case .error(let code, let message) = reply {
                    if code == ErrorCode.resync.rawValue {
                        try fullSync(conn)
                        let p = try database.replicationPosition()
                        (history, applied) = (p.history, p.last)
                        continue
                    }
                    throw ProtocolError(ErrorCode(rawValue: code) ?? .protocolViolation, "primary \(primary): \(message)")
                }
                throw ProtocolError(.protocolViolation, "primary \(primary) answered REPLLOG with \(reply)")
            }
            guard let head = lines.first, let header = try? JSONSerialization.jsonObject(with: Data(head.utf8)) as? [String: Any],
                  let last = (header["last"] as? NSNumber)?.int64Value else {
                throw ProtocolError(.protocolViolation, "primary \(primary): REPLLOG without its header line")
            }
            for line in lines.dropFirst() {
                let entry = try ReplicationLogReply.entry(line)
                guard entry.seq > applied else { continue }   // never applied twice
                try database.apply(entry)
                applied = entry.seq
                let at = entry.at
                controller.update { $0.applied = applied; $0.oldestUnapplied = applied < last ? at : nil }
            }
            controller.update {
                $0.state = "following"
                $0.primarySeq = last
                $0.applied = applied
                $0.lastContact = Date()
                $0.lastError = nil
                if applied >= last { $0.oldestUnapplied = nil }
            }
            // Nothing new and no wait (the primary's waiting slots were taken): do not spin.
            if lines.count == 1, Date().timeIntervalSince(asked) < 0.05 { Thread.sleep(forTimeInterval: 0.05) }
        }
    }

    /// HELLO (is it FragranceDB?), AUTH when a key is set, REPLSTATE (format, not ourselves).
    static func handshake(_ conn: LineSocket, primary: String, key: String?, node: String) throws -> ReplicationStateReply.Decoded {
        let hello: Reply
        do { hello = try conn.request("HELLO") } catch let e as ProtocolError where e.code == .protocolViolation {
            throw ProtocolError(.badPrimary, "\(primary) is not a FragranceDB line-protocol port (\(e.message))")
        }
        guard case .lines(let l) = hello, let first = l.first,
              let o = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any], o["server"] as? String == "fragrancedb" else {
            throw ProtocolError(.badPrimary, "\(primary) is not a FragranceDB line-protocol port (HELLO answered \(hello.encoded.prefix(80)))")
        }
        if let key {
            if case .error(let code, let message) = try conn.request("AUTH \(Token.quote(key))") {
                throw ProtocolError(.badPrimary, "\(primary) refused the replication key: \(code) \(message)")
            }
        }
        let reply = try conn.request("REPLSTATE")
        if case .error(let code, let message) = reply {
            if code == ErrorCode.notAuthenticated.rawValue || code == ErrorCode.forbidden.rawValue {
                throw ProtocolError(.badPrimary, "\(primary) wants a key of the replication role (replication.primary_key): \(message)")
            }
            throw ProtocolError(.badPrimary, "\(primary) answered REPLSTATE with \(code) \(message)")
        }
        guard case .lines(let lines) = reply, let line = lines.first, let state = ReplicationStateReply.Decoded(line) else {
            throw ProtocolError(.badPrimary, "\(primary) answered REPLSTATE with something else: \(reply.encoded.prefix(80))")
        }
        guard state.format == replicationFormat else {
            throw ProtocolError(.badPrimary, "\(primary) speaks replication format \(state.format); this server speaks \(replicationFormat): run the same fragrancedb on both")
        }
        guard state.node != node else { throw ProtocolError(.badPrimary, "\(primary) is this server itself: a server cannot replicate from itself") }
        return state
    }

    /// Copies every collection of the primary page by page, then adopts its history at the
    /// sequence the copy began: the log after it, applied over the copy, makes it consistent.
    private func fullSync(_ conn: LineSocket) throws {
        controller.update { $0.state = "syncing"; $0.fullSyncs += 1 }
        guard case .lines(let l) = try conn.request("REPLSTATE"), let line = l.first, let state = ReplicationStateReply.Decoded(line) else {
            throw ProtocolError(.protocolViolation, "primary \(primary): REPLSTATE failed during a full sync")
        }
        try database.beginFullSync()
        for config in state.collections {
            if isStopped { return }
            try database.createCopy(config)
            var after: Int64 = -1
            pages: while true {
                let reply = try conn.request("REPLPAGE \(config.name) \(after) COUNT 500")
                switch reply {
                case .error(let code, _) where code == ErrorCode.notFound.rawValue:
                    break pages   // dropped meanwhile: the log says so
                case .error(let code, let message):
                    throw ProtocolError(ErrorCode(rawValue: code) ?? .protocolViolation, "primary \(primary): REPLPAGE \(config.name): \(message)")
                case .ok:
                    throw ProtocolError(.protocolViolation, "primary \(primary): REPLPAGE answered +OK")
                case .lines(let lines):
                    guard let tail = lines.last, let t = try? JSONSerialization.jsonObject(with: Data(tail.utf8)) as? [String: Any] else {
                        throw ProtocolError(.protocolViolation, "primary \(primary): REPLPAGE without its tail line")
                    }
                    let records = lines.dropLast()
                    if !records.isEmpty { try database.copyRecords(try Record.decodeList(json: "[" + records.joined(separator: ",") + "]"), into: config.name) }
                    guard let next = (t["next"] as? NSNumber)?.int64Value else { break pages }
                    after = next
                }
            }
        }
        try database.finishFullSync(history: state.history, seq: state.seq)
        controller.update { $0.state = "following"; $0.applied = state.seq; $0.primarySeq = max($0.primarySeq, state.seq) }
    }
}

extension ReplicationStateReply {
    /// REPLSTATE's line as the follower reads it.
    struct Decoded {
        var format: Int, node: String, history: String, seq: Int64
        var collections: [CollectionConfig]
        init?(_ line: String) {
            struct Wire: Decodable {
                var server: String, format: Int, node: String, history: String, seq: Int64
                var collections: [CollectionConfig]
            }
            guard let w = try? JSONDecoder().decode(Wire.self, from: Data(line.utf8)), w.server == "fragrancedb" else { return nil }
            (format, node, history, seq, collections) = (w.format, w.node, w.history, w.seq, w.collections)
        }
    }
}

/// A blocking line-protocol connection over a POSIX socket: the follower's thread is its own,
/// so there is nothing to gain from an event loop here.
final class LineSocket: @unchecked Sendable {
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    let address: String

    init(host: String, port: Int, timeoutSeconds: Int = 30) throws {
        address = "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ProtocolError(.io, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        fd = -1
        while let ai = cursor {
            let s = Glibc.socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s >= 0 {
                var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                var one: Int32 = 1
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { fd = s; break }
                lastError = String(cString: strerror(errno))
                Glibc.close(s)
            }
            cursor = ai.pointee.ai_next
        }
        guard fd >= 0 else { throw ProtocolError(.io, "cannot connect to \(address): \(lastError)") }
    }

    func shutdown() { if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }

    /// Sends one request line and reads its whole reply.
    func request(_ line: String) throws -> Reply {
        try send(line + "\r\n")
        var decoder = ReplyDecoder()
        while true {
            if let reply = try decoder.feed(try readLine()) { return reply }
        }
    }

    private func send(_ text: String) throws {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ProtocolError(.io, "\(address): send failed: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    /// One line without its CRLF. The first bytes must look like a reply: anything else (an
    /// HTTP server, a banner) is not the protocol.
    private func readLine() throws -> String {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                var end = nl
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = nl + 1
                if start > 1 << 20 { buffer.removeFirst(start); start = 0 }
                return line
            }
            if buffer.count - start > 256 << 20 { throw ProtocolError(.protocolViolation, "\(address): a reply line over 256 MB") }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw ProtocolError(.io, "\(address) closed the connection") }
            if n < 0 { throw ProtocolError(.io, "\(address): \(errno == EAGAIN ? "no answer within the timeout" : String(cString: strerror(errno)))") }
            buffer += chunk[0..<n]
        }
    }
}
