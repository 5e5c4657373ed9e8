import Foundation
import XCTest
import TestSupport
@testable import FragranceServer
@testable import FragranceStore

/// One HTTP/1.1 exchange over a real loopback socket.
struct HTTPReply {
    var status: Int
    var headers: [String: String]   // lower-cased names
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

extension TestClient {
    func sendRequest(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String: String] = [:]) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        send(Array((head + "\r\n").utf8) + (body ?? []))
    }

    func readResponse() -> HTTPReply {
        guard let status = line(), let code = Int(status.split(separator: " ").dropFirst().first ?? "") else {
            return HTTPReply(status: 0, headers: [:], body: [])
        }
        var headers: [String: String] = [:]
        while let l = line(), !l.isEmpty {
            guard let i = l.firstIndex(of: ":") else { continue }
            headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        return HTTPReply(status: code, headers: headers, body: bytes(length))
    }

    func http(_ method: String, _ path: String, json: String? = nil, token: String? = nil, headers: [String: String] = [:]) -> HTTPReply {
        var h = headers
        if json != nil && h["Content-Type"] == nil { h["Content-Type"] = "application/json" }
        if let token { h["Authorization"] = "Bearer \(token)" }
        sendRequest(method, path, body: json.map { Array($0.utf8) }, headers: h)
        return readResponse()
    }
}

/// A whole `fragrancedb serve` (TCP + HTTP over one store) on free loopback ports.
class HTTPTestCase: XCTestCase {
    static let modelDirectory = Repository.modelDirectory.path
    var dir: URL!
    var server: DatabaseServer!
    var running: Task<Void, Error>!
    var httpPort = 0
    var tcpPort = 0

    /// Overridden by tests that need other settings.
    func configure(_ c: inout ServerConfiguration) {}

    override func setUp() async throws {
        dir = temporaryDirectory("http", create: false)
        var c = ServerConfiguration()
        c.dataDirectory = dir.path
        c.modelDirectory = Self.modelDirectory
        c.tcpPort = 0
        c.httpPort = 0
        c.loadCatalogue = false   // CatalogueTests load a slice of it on purpose
        configure(&c)
        try await start(c)
    }

    func start(_ c: ServerConfiguration, reload: (@Sendable () async throws -> ServerConfiguration)? = nil) async throws {
        let server = try await DatabaseServer(configuration: c, reload: reload)
        self.server = server
        running = Task { try await server.run(signals: false) }
        let ports = await server.boundPorts()
        httpPort = ports.http ?? 0
        tcpPort = ports.tcp ?? 0
    }

    override func tearDown() async throws {
        await server?.shutdown()
        _ = try? await running?.value
        if let dir { try? FileManager.default.removeItem(at: dir) }   // nil when setUp skipped
    }

    func client() throws -> TestClient { try TestClient(port: httpPort) }

    /// /ready once it answers 200 (a catalogue load takes a while in debug builds), or its last reply after `seconds`.
    func ready(_ c: TestClient, within seconds: Double = 60) async throws -> HTTPReply {
        var reply = c.http("GET", "/ready")
        let deadline = Date().addingTimeInterval(seconds)
        while reply.status != 200 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            reply = c.http("GET", "/ready")
        }
        return reply
    }
}
