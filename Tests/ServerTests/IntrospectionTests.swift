import Foundation
import XCTest
@testable import FragranceProtocol
@testable import FragranceServer

/// Issue #19's introspection over real sockets: version and uptime in HELLO, INFO and `GET /`;
/// INFO sections with calls per command from both protocols; SLOWLOG (every command here:
/// threshold 0) with truncated arguments and no tokens; CLIENT LIST; HTTP 405 with `Allow`
/// and HEAD where GET is.
final class IntrospectionTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) { c.slowlogThresholdMilliseconds = 0 }

    func json(_ line: String?) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data((line ?? "").utf8))) as? [String: Any] ?? [:] }

    func testVersionAndUptimeEverywhere() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        let hello = json(tcp.call("HELLO").last)
        XCTAssertEqual(hello["version"] as? String, FragranceVersion.current)
        let root = http.http("GET", "/")
        XCTAssertEqual(root.status, 200, root.text)
        XCTAssertEqual(root.json["version"] as? String, FragranceVersion.current)
        XCTAssertNotNil(root.json["uptime_seconds"] as? Double)
        let info = json(tcp.call("INFO").last)
        XCTAssertEqual(info["version"] as? String, FragranceVersion.current)
        XCTAssertGreaterThan(info["uptime_seconds"] as? Double ?? -1, 0)
        for key in ["server_info", "clients", "stats", "memory", "persistence", "collections", "model"] {
            XCTAssertTrue(info.keys.contains(key), "INFO without a section has \(key): \(info.keys.sorted())")
        }
    }

    func testInfoSectionsCountCommandsFromBothProtocols() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        _ = tcp.call("COUNT shop")
        _ = tcp.call("COUNT nope")
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/count").status, 200)
        let stats = json(tcp.call("INFO stats").last)
        XCTAssertEqual(Set(stats.keys), ["server", "version", "uptime_seconds", "stats"], "one section only")
        let commands = (stats["stats"] as? [String: Any])?["commands"] as? [[String: Any]] ?? []
        let count = commands.first { $0["command"] as? String == "COUNT" }
        XCTAssertEqual(count?["calls"] as? Int, 3, "two over TCP, one over HTTP: \(commands)")
        XCTAssertEqual(count?["errors"] as? Int, 1)
        let viaHTTP = http.http("GET", "/api/v1/info?section=clients")
        XCTAssertEqual((viaHTTP.json["clients"] as? [String: Any])?["connected"] as? Int, 1, viaHTTP.text)
        let memory = json(tcp.call("INFO MEMORY").last)
        XCTAssertNotNil((memory["memory"] as? [String: Any])?["rss_bytes"] as? Int)
        // A wrong section: the same code on both, with the near one named.
        let bad = tcp.call("INFO stat").first ?? ""
        XCTAssertTrue(bad.hasPrefix("-ERR BAD_VALUE") && bad.contains("did you mean 'stats'"), bad)
        XCTAssertEqual(http.http("GET", "/api/v1/info?section=stat").errorCode, "BAD_VALUE")
    }

    /// Issue #23: INFO memory says where resident memory goes, per vector by component.
    func testInfoMemoryBreaksTheGraphDownPerVector() throws {
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE m {"dimension": 16}"#), ["+OK created m"])
        let rows = (0..<300).map { i in #"{"id": "r\#(i)", "vector": [\#((0..<16).map { j in String(Double(i) + Double(j) / 100 + 1) }.joined(separator: ","))]}"# }
        XCTAssertEqual(tcp.call("UPSERT m [" + rows.joined(separator: ",") + "]"), ["+OK inserted=300 updated=0"])
        let memory = json(tcp.call("INFO memory").last)["memory"] as? [String: Any] ?? [:]
        let per = memory["per_vector"] as? [String: Double] ?? [:]
        XCTAssertEqual(per["vectors"], 36, "16 halves and a float scale per record (distinct vectors: identical ones share a node): \(memory)")
        XCTAssertGreaterThan(per["links"] ?? 0, 0)
        XCTAssertEqual(per["total"] ?? 0, (per["vectors"] ?? 0) + (per["codes"] ?? 0) + (per["links"] ?? 0) + (per["bookkeeping"] ?? 0), accuracy: 0.5)
        let graph = memory["graph"] as? [String: Double] ?? [:]
        XCTAssertEqual(graph["vectors"], 300 * 36)
        XCTAssertGreaterThan(memory["heap_in_use_bytes"] as? Int ?? 0, 0, "malloc's figures are read")
        XCTAssertGreaterThan(memory["sqlite_bytes"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(memory["rss_bytes"] as? Int ?? 0, memory["heap_in_use_bytes"] as? Int ?? 0 / 2)
    }

    func testSlowlogKeepsTruncatedArgumentsAndNoTokens() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        let long = String(repeating: "x", count: 100)
        _ = tcp.call("EXISTS shop " + ([long] + (1...20).map { "id\($0)" }).joined(separator: " "))
        _ = tcp.call("AUTH hunter2-secret")
        XCTAssertEqual(http.http("GET", "/api/v1/collections/shop").status, 200)
        let log = json(tcp.call("SLOWLOG GET 3").last)
        let entries = log["entries"] as? [[String: Any]] ?? []
        XCTAssertEqual(entries.count, 3, "the newest three")
        XCTAssertEqual(log["length"] as? Int, 4, "CREATE, EXISTS, AUTH and the HTTP request")
        // Newest first: the HTTP request, the AUTH, the EXISTS.
        XCTAssertEqual(entries[0]["surface"] as? String, "http")
        XCTAssertEqual(entries[0]["command"] as? String, "DESCRIBE")
        XCTAssertEqual(entries[0]["arguments"] as? [String], ["GET", "/api/v1/collections/shop"])
        XCTAssertEqual(entries[1]["command"] as? String, "AUTH")
        XCTAssertFalse("\(entries[1])".contains("hunter2"), "tokens are not logged: \(entries[1])")
        let exists = entries[2]["arguments"] as? [String] ?? []
        XCTAssertEqual(entries[2]["command"] as? String, "EXISTS")
        XCTAssertEqual(exists.count, 17, "16 arguments and a note of the rest: \(exists)")
        XCTAssertTrue(exists[2].hasPrefix(String(repeating: "x", count: 64) + "…"), exists[2])
        XCTAssertEqual(exists.last, "… (7 more arguments)")
        XCTAssertNotNil(entries[2]["microseconds"] as? Int)

        XCTAssertEqual(tcp.call("SLOWLOG RESET").first?.hasPrefix("+OK reset="), true)
        XCTAssertEqual(tcp.call("SLOWLOG LEN"), ["+OK 1"], "the RESET itself, logged once it had run")
        XCTAssertEqual(http.http("DELETE", "/api/v1/slowlog").json["reset"] as? Int, 2)
        XCTAssertTrue(tcp.call("SLOWLOG FETCH").first?.hasPrefix("-ERR SYNTAX") ?? false)
    }

    func testClientListShowsOpenConnections() throws {
        let http = try client()
        let a = try TestClient(port: tcpPort)
        let b = try TestClient(port: tcpPort)
        XCTAssertEqual(a.call("PING"), ["+OK PONG"])
        XCTAssertEqual(b.call("COUNT nope").first?.hasPrefix("-ERR NOT_FOUND"), true)
        let list = b.call("CLIENT LIST")
        XCTAssertEqual(list.first, "*2", "\(list)")
        let rows = list.dropFirst().map(json)
        XCTAssertEqual(rows.map { $0["last_command"] as? String }, ["PING", "COUNT"])
        XCTAssertTrue((rows[0]["address"] as? String ?? "").hasPrefix("127.0.0.1:"), "\(rows[0])")
        XCTAssertEqual(rows[1]["commands"] as? Int, 1)
        _ = a.call("QUIT")
        var clients: [Any] = []
        for _ in 0..<50 {
            clients = http.http("GET", "/api/v1/clients").json["clients"] as? [Any] ?? []
            if clients.count == 1 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(clients.count, 1, "a closed connection leaves the list")
    }

    func testWrongMethodIs405WithAllowAndHeadAnswersWhereGetDoes() throws {
        let http = try client()
        let put = http.http("PUT", "/api/v1/collections")
        XCTAssertEqual(put.status, 405, put.text)
        XCTAssertEqual(put.errorCode, "METHOD_NOT_ALLOWED")
        XCTAssertEqual(put.headers["allow"], "GET, POST, HEAD")
        let deleteInfo = http.http("DELETE", "/api/v1/info")
        XCTAssertEqual(deleteInfo.status, 405)
        XCTAssertEqual(deleteInfo.headers["allow"], "GET, HEAD")
        XCTAssertEqual(http.http("GET", "/api/v1/nothing-here").status, 404, "an unknown path is still 404")

        // HEAD: the GET's status and headers, no body; the connection stays usable.
        http.sendRequest("HEAD", "/health")
        let status = http.line() ?? ""
        XCTAssertTrue(status.hasPrefix("HTTP/1.1 200"), status)
        var headers: [String: String] = [:]
        while let l = http.line(), !l.isEmpty {
            if let i = l.firstIndex(of: ":") { headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertEqual(headers["content-type"]?.hasPrefix("application/json"), true, "\(headers)")
        XCTAssertEqual(http.http("GET", "/health").json["status"] as? String, "ok", "no body bytes were left behind")
        http.sendRequest("HEAD", "/api/v1/collections/none")
        XCTAssertTrue(http.line()?.hasPrefix("HTTP/1.1 404") ?? false)
    }
}
