import Configuration
import Embedding
import Foundation
import XCTest
import TestSupport
@testable import FragranceServer

/// defaults < config/<env>.json < FRAGRANCEDB_* < flags, typed and checked at start.
final class ConfigurationTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = temporaryDirectory("config", create: false)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func write(_ env: String, _ json: String) throws {
        try json.write(to: dir.appendingPathComponent("\(env).json"), atomically: true, encoding: .utf8)
    }

    func load(_ env: [String: String] = [:], flags: [String: ConfigContent] = [:]) async throws -> ServerConfiguration {
        try await ServerConfiguration.load(environmentVariables: env, flags: flags, configDirectory: dir.path)
    }

    func testSourcesOverrideInOrder() async throws {
        let defaults = try await load()
        XCTAssertEqual(defaults.httpPort, 8000)
        XCTAssertEqual(defaults.tcpPort, 7700)
        XCTAssertEqual(defaults.httpHost, "127.0.0.1")
        XCTAssertEqual(defaults.modelPrecision, .int8)
        let exact = try await load(["FRAGRANCEDB_MODEL_PRECISION": "float32"])
        XCTAssertEqual(exact.modelPrecision, .float32)
        try write("local", #"{"http": {"port": 8100, "max_body_bytes": 4096}, "tcp": {"port": 7100}, "rate_limit": {"per_key": 5}}"#)
        let file = try await load()
        XCTAssertEqual(file.httpPort, 8100)
        XCTAssertEqual(file.httpMaxBodyBytes, 4096)
        XCTAssertEqual(file.live.perKey, .init(rate: 5, burst: 10))
        let env = try await load(["FRAGRANCEDB_HTTP_PORT": "8200", "FRAGRANCEDB_LOG_LEVEL": "debug"])
        XCTAssertEqual(env.httpPort, 8200)
        XCTAssertEqual(env.tcpPort, 7100, "the file still fills what the environment does not set")
        XCTAssertEqual(env.live.logLevel, .debug)
        let flags = try await load(["FRAGRANCEDB_HTTP_PORT": "8200"], flags: ["http.port": .int(8300)])
        XCTAssertEqual(flags.httpPort, 8300)
        // FRAGRANCEDB_ENV picks the file.
        try write("production", #"{"http": {"port": 9000}}"#)
        let prod = try await load(["FRAGRANCEDB_ENV": "production"])
        XCTAssertEqual(prod.httpPort, 9000)
        XCTAssertEqual(prod.environment, "production")
    }

    func testKeysAreHashedAndSecretsStayOutOfMessages() async throws {
        let c = try await load(["FRAGRANCEDB_AUTH_KEYS": "ops:admin:hunter2-secret,app:read:r34d"])
        XCTAssertEqual(c.live.keys.map(\.name), ["ops", "app"])
        XCTAssertEqual(c.live.keys[0].role, .admin)
        XCTAssertEqual(c.live.keys[0].sha256, APIKey.hash("hunter2-secret"))
        XCTAssertFalse("\(c.live.keys)".contains("hunter2"), "only the hash is kept")
        do {
            _ = try await load(["FRAGRANCEDB_AUTH_KEYS": "ops:root:hunter2-secret"])
            XCTFail("unknown role accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("unknown role 'root'"))
            XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
        }
        let hashed = try await load(["FRAGRANCEDB_AUTH_KEY_HASHES": "ops:write:\(APIKey.hash("s"))"])
        XCTAssertEqual(hashed.live.keys.first?.sha256, APIKey.hash("s"))
    }

    func testBadSettingsAreRefusedWithTheKeyNamed() async throws {
        let cases: [([String: String], String?, String)] = [
            (["FRAGRANCEDB_HTTP_PORT": "eighty"], nil, "http.port must be an integer"),
            (["FRAGRANCEDB_HTTP_PORT": "70000"], nil, "http.port must be in 0...65535"),
            (["FRAGRANCEDB_LOG_LEVEL": "loud"], nil, "log.level must be one of"),
            (["FRAGRANCEDB_MODEL_PRECISION": "int4"], nil, "model.precision must be int8 or float32"),
            (["FRAGRANCEDB_RATE_LIMIT_PER_KEY": "-1"], nil, "rate_limit.per_key must be a number ≥ 0"),
            (["FRAGRANCEDB_AUTH_JWT_SECRET": "short"], nil, "at least 32 bytes"),
            (["FRAGRANCEDB_ENV": "../etc"], nil, "FRAGRANCEDB_ENV must be a plain name"),
            (["FRAGRANCEDB_INDEX_SEARCH_CODES": "maybe"], nil, "index.search_codes must be true or false, got 'maybe'"),
            (["FRAGRANCEDB_QUERY_RESULT_CACHE_ENTRIES": "-1"], nil, "query.result_cache_entries must be in 0...1000000"),
            (["FRAGRANCEDB_QUERY_RESULT_CACHE_MB": "lots"], nil, "query.result_cache_mb must be an integer"),
            ([:], #"{"http": {"prot": 1}}"#, "unknown setting 'http.prot'"),
            ([:], #"{"http": 5}"#, "unknown setting 'http'"),
            ([:], #"not json"#, "is not a JSON object"),
        ]
        for (env, file, expected) in cases {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("local.json"))
            if let file { try write("local", file) }
            do {
                _ = try await load(env)
                XCTFail("accepted \(env) \(file ?? "")")
            } catch {
                XCTAssertTrue("\(error)".contains(expected), "\(error) should say \(expected)")
            }
        }
    }

    /// Issue #19: a mistyped environment name was a silent start with no configuration.
    func testAnEnvironmentNamedButMissingIsRefused() async throws {
        try write("production", #"{"http": {"port": 9000}}"#)
        do {
            _ = try await load(["FRAGRANCEDB_ENV": "prodution"])
            XCTFail("a missing environment file was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("no \(dir.path)/prodution.json") && "\(error)".contains("did you mean 'production'"), "\(error)")
        }
        let local = try await load(["FRAGRANCEDB_ENV": "local"])
        XCTAssertEqual(local.httpPort, 8000, "local, the default, may be missing: defaults apply")
    }

    func testLLMSettingsAndRoles() async throws {
        let c = try await load(["FRAGRANCEDB_LLM_URL": "http://127.0.0.1:11434", "FRAGRANCEDB_LLM_ROLES": "orchestrator:qwen,customer_service:smol"])
        XCTAssertEqual(c.llm?.baseURL, "http://127.0.0.1:11434")
        XCTAssertEqual(c.llm?.roles, ["orchestrator": "qwen", "customer_service": "smol"])
        let plain = try await load()
        XCTAssertNil(plain.llm, "no url: the composer alone")
        do { _ = try await load(["FRAGRANCEDB_LLM_URL": "ftp://x"]); XCTFail() } catch { XCTAssertTrue("\(error)".contains("llm.url must start with http")) }
    }

    func testAnOpenServerStaysOnLoopback() async throws {
        var c = ServerConfiguration()
        c.httpHost = "0.0.0.0"
        XCTAssertThrowsError(try c.checkExposure()) { XCTAssertTrue("\($0)".contains("refusing to serve an open database")) }
        c.live.keys = [APIKey(name: "k", role: .read, secret: "x")]
        XCTAssertNoThrow(try c.checkExposure())
        var d = ServerConfiguration()
        d.tcpHost = "127.0.0.2"
        XCTAssertNoThrow(try d.checkExposure())
    }
}
