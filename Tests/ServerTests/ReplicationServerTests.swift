import Foundation
import XCTest
import TestSupport
@testable import FragranceServer
@testable import FragranceStore
import FragranceClient

/// Issue #24: a primary and a replica, each a whole `fragrancedb serve` on loopback ports,
/// the replica following over the line protocol.
class ReplicationTestCase: HTTPTestCase {
    struct Node {
        var server: DatabaseServer, running: Task<Void, Error>, tcp: Int, http: Int, dir: URL
        func stop() async {
            await server.shutdown()
            _ = try? await running.value
        }
    }
    var replicas: [Node] = []

    override func tearDown() async throws {
        for r in replicas { await r.stop() }
        for r in replicas { try? FileManager.default.removeItem(at: r.dir) }
        try await super.tearDown()
    }

    func startReplica(_ dir: URL, of primary: Int?, key: String? = nil) async throws -> Node {
        var c = ServerConfiguration()
        c.dataDirectory = dir.path
        c.modelDirectory = Self.modelDirectory
        (c.tcpPort, c.httpPort) = (0, 0)
        c.loadCatalogue = true   // a replica must not load it: its records come from the primary
        c.catalogueLimit = 5
        c.replicaOf = primary.map { ("127.0.0.1", $0) }
        c.replicationPrimaryKey = key
        configureReplica(&c)
        let server = try await DatabaseServer(configuration: c)
        let running = Task { try await server.run(signals: false) }
        let ports = await server.boundPorts()
        let node = Node(server: server, running: running, tcp: ports.tcp ?? 0, http: ports.http ?? 0, dir: dir)
        replicas.append(node)
        return node
    }

    func configureReplica(_ c: inout ServerConfiguration) {}

    func info(_ port: Int, key: String? = nil) throws -> [String: Any] {
        let t = try TestClient(port: port)
        if let key { _ = t.call("AUTH \(key)") }
        let line = t.call("INFO replication").dropFirst().first ?? "{}"
        return ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["replication"] as? [String: Any] ?? [:]
    }

    /// Until the replica follows and has applied the primary's last sequence.
    func caughtUp(_ replica: Node, within seconds: Double = 30, key: String? = nil) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var r: [String: Any] = [:]
        while Date() < deadline {
            let primarySeq = try info(tcpPort, key: key)["seq"] as? Int
            r = try info(replica.tcp, key: key)
            if r["state"] as? String == "following", let seq = r["seq"] as? Int, seq == primarySeq { return r }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("replica did not catch up: \(r)")
        return r
    }

    func digest(_ port: Int, _ collection: String) throws -> String {
        try TestClient(port: port).call("DIGEST \(collection)").dropFirst().first ?? "none"
    }

    func records(_ from: Int, _ to: Int, update: Bool = false) -> String {
        "[" + (from..<to).map { i in
            let a = Double(i) * 0.37
            return #"{"id": "r\#(i)", "vector": [\#(cos(a)), \#(sin(a)), \#(Double(i % 7) / 7)], "kind": "\#(update ? "updated" : i % 2 == 0 ? "even" : "odd")"}"#
        }.joined(separator: ",") + "]"
    }
}

final class ReplicationServerTests: ReplicationTestCase {
    func testAReplicaCopiesFollowsRefusesWritesAndResumesAfterARestart() async throws {
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE m {"dimension": 3, "schema": {"fields": [{"name": "kind", "type": "string"}]}}"#), ["+OK created m"])
        XCTAssertEqual(tcp.call("UPSERT m " + records(0, 500)), ["+OK inserted=500 updated=0"])

        let dir = temporaryDirectory("replica", create: false)
        var replica = try await startReplica(dir, of: tcpPort)
        var state = try await caughtUp(replica)
        XCTAssertEqual(state["full_syncs"] as? Int, 1)
        XCTAssertEqual(state["role"] as? String, "replica")
        XCTAssertEqual(try TestClient(port: replica.tcp).call("COLLECTIONS").count, 2, "only the primary's collection: no catalogue of its own")

        // It follows: inserts, updates, deletes, a new dynamic collection, a drop.
        XCTAssertEqual(tcp.call("UPSERT m " + records(400, 700, update: true)), ["+OK inserted=200 updated=100"])
        XCTAssertEqual(tcp.call("DEL m r1 r2 r3 r650"), ["+OK deleted=4"])
        XCTAssertEqual(tcp.call(#"CREATE d {"dimension": 2}"#), ["+OK created d"])
        XCTAssertEqual(tcp.call(#"UPSERT d {"id": "x", "vector": [1, 0], "colour": "red", "size": 3}"#), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(tcp.call(#"CREATE gone {"dimension": 2}"#), ["+OK created gone"])
        XCTAssertEqual(tcp.call("DROP gone"), ["+OK dropped gone"])
        let wait = tcp.call("WAIT 1 5000").first ?? ""
        XCTAssertTrue(wait.hasPrefix("+OK replicas=1 "), wait)
        for name in ["m", "d"] { XCTAssertEqual(try digest(replica.tcp, name), try digest(tcpPort, name), name) }
        XCTAssertEqual(try TestClient(port: replica.tcp).call("COLLECTIONS").count, 3)
        let query = "SEARCH m K 10 EF 200 FILTER \"kind = 'updated'\" VECTOR [0.3, 0.9, 0.1]"
        XCTAssertEqual(try TestClient(port: replica.tcp).call(query), tcp.call(query))

        // Read-only, on both protocols, naming the primary.
        let refused = try TestClient(port: replica.tcp).call("UPSERT m " + records(0, 1)).first ?? ""
        XCTAssertTrue(refused.hasPrefix("-ERR READONLY ") && refused.contains("127.0.0.1:\(tcpPort)"), refused)
        let http = try TestClient(port: replica.http)
        let h = http.http("POST", "/api/v1/collections/m/records", json: #"{"id": "z", "vector": [1, 0, 0]}"#)
        XCTAssertEqual(h.status, 409)
        XCTAssertEqual(h.errorCode, "READONLY")
        XCTAssertEqual(http.http("DELETE", "/api/v1/collections/m").errorCode, "READONLY")
        XCTAssertEqual(http.http("GET", "/ready").status, 200)
        let metrics = http.http("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("fragrancedb_replication_is_replica 1"), String(metrics.prefix(200)))
        XCTAssertTrue(metrics.contains("fragrancedb_replication_lag_operations 0"))

        // Restarted (its data directory remembers the primary), it resumes where it stopped.
        await replica.stop()
        replicas.removeAll()
        XCTAssertEqual(tcp.call("UPSERT m " + records(700, 800)), ["+OK inserted=100 updated=0"])
        XCTAssertEqual(tcp.call("DEL m r10"), ["+OK deleted=1"])
        replica = try await startReplica(dir, of: nil)
        state = try await caughtUp(replica)
        XCTAssertEqual(state["full_syncs"] as? Int, 0, "resumed from its last applied sequence: \(state)")
        XCTAssertEqual(try digest(replica.tcp, "m"), try digest(tcpPort, "m"))

        // Promotion: it stops following and takes writes.
        let promoted = try TestClient(port: replica.tcp).call("REPLICAOF NO ONE").first ?? ""
        XCTAssertTrue(promoted.hasPrefix("+OK promoted"), promoted)
        XCTAssertEqual(try TestClient(port: replica.tcp).call("UPSERT m " + records(900, 901)), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(try info(replica.tcp)["role"] as? String, "primary")
        XCTAssertEqual(try TestClient(port: replica.http).http("GET", "/ready").status, 200)
    }

    /// The Swift client given replicas: reads to them (a dead one passes them on), writes to the primary.
    func testTheSwiftClientRoutesReadsToReplicasAndWritesToThePrimary() async throws {
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE m {"dimension": 2}"#), ["+OK created m"])
        let replica = try await startReplica(temporaryDirectory("replica-client", create: false), of: tcpPort)
        _ = try await caughtUp(replica)
        func calls(_ port: Int, _ command: String) throws -> Int {
            let line = try TestClient(port: port).call("INFO stats").dropFirst().first ?? "{}"
            let stats = ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["stats"] as? [String: Any]
            return ((stats?["commands"] as? [[String: Any]]) ?? []).first { $0["command"] as? String == command }?["calls"] as? Int ?? 0
        }
        let client = FragranceClient(host: "127.0.0.1", port: tcpPort, connections: 1,
                                     replicas: [("127.0.0.1", freePort()), ("127.0.0.1", replica.tcp)])
        struct Row: Encodable { var id: String, vector: [Float] }
        let written = try await client.upsert("m", [Row(id: "a", vector: [1, 0]), Row(id: "b", vector: [0, 1])])
        XCTAssertEqual(written.inserted, 2)
        XCTAssertTrue((tcp.call("WAIT 1 5000").first ?? "").hasPrefix("+OK replicas=1"))
        for _ in 0..<5 {
            let hits = try await client.search("m", vector: [1, 0.1], k: 1)
            XCTAssertEqual(hits.hits.map(\.id), ["a"])
        }
        XCTAssertEqual(try calls(replica.tcp, "SEARCH"), 5)
        XCTAssertEqual(try calls(tcpPort, "SEARCH"), 0)
        XCTAssertEqual(try calls(tcpPort, "UPSERT"), 1)
        XCTAssertEqual(try calls(replica.tcp, "UPSERT"), 0)
        await client.close()
    }

    /// Requests that wait (REPLLOG's long poll, WAIT) hold a thread each: past three polls and
    /// two WAITs at once the rest answer at once, so a flood of them cannot take every command
    /// thread; other commands go on meanwhile.
    func testWaitingRequestsCannotTakeEveryThread() async throws {
        let history = try info(tcpPort)["history"] as? String ?? ""
        let seq = try info(tcpPort)["seq"] as? Int ?? 0
        let lines = (0..<6).map { _ in "REPLLOG \(history) \(seq) WAIT 4000" } + (0..<4).map { _ in "WAIT 5 4000" }
        let port = tcpPort
        // Threads of their own: all eight must be in flight together.
        final class Times: @unchecked Sendable { let lock = NSLock(); var all: [Double] = [] }
        let times = Times()
        let group = DispatchGroup()
        for line in lines {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let c = try? TestClient(port: port, timeoutSeconds: 20) else { return }
                let t0 = Date()
                _ = c.call(line)
                let s = Date().timeIntervalSince(t0)
                times.lock.withLock { times.all.append(s) }
            }.start()
        }
        try await Task.sleep(for: .milliseconds(500))
        let t0 = Date()
        XCTAssertEqual(try TestClient(port: port).call("PING"), ["+OK PONG"])
        XCTAssertLessThan(Date().timeIntervalSince(t0), 3, "PING waited for a thread")
        await withCheckedContinuation { done in group.notify(queue: .global()) { done.resume() } }
        let seconds = times.all
        XCTAssertEqual(seconds.filter { $0 >= 3.5 }.count, 5, "\(seconds)")
        XCTAssertEqual(seconds.filter { $0 < 3.5 }.count, lines.count - 5, "\(seconds)")
    }

    /// A FragranceDB of another replication format is refused with both formats named. The
    /// "primary" here is a few lines speaking the protocol, since no other build is at hand.
    func testAPrimaryOfAnotherReplicationFormatIsRefused() async throws {
        let (listener, port) = loopbackSocket(listening: 4)
        let answers = [
            "HELLO": "*1\r\n{\"server\":\"fragrancedb\",\"version\":\"9.0.0\",\"protocol\":1,\"auth\":\"open\",\"role\":\"admin\",\"commands\":[]}\r\n",
            "REPLSTATE": "*1\r\n{\"server\":\"fragrancedb\",\"version\":\"9.0.0\",\"format\":99,\"node\":\"elsewhere\",\"history\":\"h\",\"seq\":0,\"floor\":0,\"at\":0,\"collections\":[]}\r\n",
        ]
        let fake = Thread {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var pending = ""
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { return }
                pending += String(decoding: buf[0..<n], as: UTF8.self)
                while let r = pending.range(of: "\r\n") {
                    let line = String(pending[..<r.lowerBound])
                    pending = String(pending[r.upperBound...])
                    let reply = answers[line] ?? "-ERR UNKNOWN_COMMAND no\r\n"
                    _ = reply.withCString { send(fd, $0, strlen($0), 0) }
                }
            }
        }
        fake.start()
        defer { close(listener) }
        let tcp = try TestClient(port: tcpPort)
        let r = tcp.call("REPLICAOF 127.0.0.1 \(port)").first ?? ""
        XCTAssertTrue(r.hasPrefix("-ERR BAD_PRIMARY ") && r.contains("format 99") && r.contains("speaks \(replicationFormat)"), r)
        XCTAssertEqual(try info(tcpPort)["role"] as? String, "primary")
    }

    func testReplicaOfRefusesWhatIsNotACompatiblePrimary() async throws {
        let tcp = try TestClient(port: tcpPort)
        let own = tcp.call("REPLICAOF 127.0.0.1 \(tcpPort)").first ?? ""
        XCTAssertTrue(own.hasPrefix("-ERR BAD_PRIMARY ") && own.contains("itself"), own)
        let httpPortReply = tcp.call("REPLICAOF 127.0.0.1 \(httpPort)").first ?? ""
        XCTAssertTrue(httpPortReply.hasPrefix("-ERR BAD_PRIMARY ") && httpPortReply.contains("not a FragranceDB"), httpPortReply)
        let h = try client().http("POST", "/api/v1/admin/replicaof", json: #"{"host": "127.0.0.1", "port": \#(tcpPort)}"#)
        XCTAssertEqual(h.status, 502)
        XCTAssertEqual(h.errorCode, "BAD_PRIMARY")
        XCTAssertEqual(try info(tcpPort)["role"] as? String, "primary", "a refused REPLICAOF changes nothing")
        XCTAssertEqual(tcp.call(#"CREATE still {"dimension": 2}"#), ["+OK created still"])

        // A primary that is not up yet: accepted, retried, and /ready says why it is not ready.
        let closed = freePort()
        let later = tcp.call("REPLICAOF 127.0.0.1 \(closed)").first ?? ""
        XCTAssertTrue(later.hasPrefix("+OK following") && later.contains("not reachable yet"), later)
        let ready = try client().http("GET", "/ready")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.text.contains("replica is connecting"), ready.text)
        XCTAssertEqual(tcp.call(#"CREATE nope {"dimension": 2}"#).first?.hasPrefix("-ERR READONLY"), true)
        XCTAssertTrue((tcp.call("REPLICAOF NO ONE").first ?? "").hasPrefix("+OK"))
        XCTAssertEqual(tcp.call(#"CREATE again {"dimension": 2}"#), ["+OK created again"])
    }
}

/// With keys: a replica authenticates with a key of the replication role; a read key is refused.
final class KeyedReplicationTests: ReplicationTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        c.live.keys = [APIKey(name: "app", role: .write, secret: "app-secret"), APIKey(name: "reader", role: .read, secret: "read-secret"),
                       APIKey(name: "follower", role: .replication, secret: "repl-secret")]
    }
    override func configureReplica(_ c: inout ServerConfiguration) {
        c.live.keys = [APIKey(name: "admin", role: .admin, secret: "admin-secret")]
    }

    func testAReplicaNeedsAReplicationKey() async throws {
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call("AUTH app-secret").first?.hasPrefix("+OK"), true)
        XCTAssertEqual(tcp.call(#"CREATE m {"dimension": 2}"#), ["+OK created m"])
        XCTAssertEqual(tcp.call(#"UPSERT m [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}]"#), ["+OK inserted=2 updated=0"])
        // A replication key may follow but not write.
        let follower = try TestClient(port: tcpPort)
        XCTAssertEqual(follower.call("AUTH repl-secret").first?.hasPrefix("+OK"), true)
        XCTAssertEqual(follower.call("REPLSTATE").first, "*1")
        XCTAssertEqual(follower.call(#"UPSERT m {"id": "c", "vector": [1, 1]}"#).first?.hasPrefix("-ERR FORBIDDEN"), true)
        let reader = try TestClient(port: tcpPort)
        _ = reader.call("AUTH read-secret")
        XCTAssertEqual(reader.call("REPLSTATE").first?.hasPrefix("-ERR FORBIDDEN"), true)

        let refused = try await startReplica(temporaryDirectory("replica-read", create: false), of: nil)
        let admin = try TestClient(port: refused.tcp)
        _ = admin.call("AUTH admin-secret")
        let r = admin.call("REPLICAOF 127.0.0.1 \(tcpPort)").first ?? ""
        XCTAssertTrue(r.hasPrefix("-ERR BAD_PRIMARY ") && r.contains("replication role"), r)

        let replica = try await startReplica(temporaryDirectory("replica-keyed", create: false), of: tcpPort, key: "repl-secret")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try info(replica.tcp, key: "admin-secret")["seq"] as? Int != (try info(tcpPort, key: "app-secret")["seq"] as? Int) {
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(try info(replica.tcp, key: "admin-secret")["state"] as? String, "following")
        let a = try TestClient(port: replica.tcp)
        _ = a.call("AUTH admin-secret")
        XCTAssertEqual(a.call("DIGEST m"), tcp.call("DIGEST m"))
    }
}
