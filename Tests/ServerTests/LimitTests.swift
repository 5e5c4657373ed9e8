import Foundation
import NIOCore
import XCTest
@testable import FragranceServer

final class LimitTests: ServerTestCase {
    override func configure(_ config: inout LineServer.Configuration) {
        config.maxConnections = 2
        config.idleTimeout = .milliseconds(400)
    }

    func testConnectionsOverTheLimitAreToldAndClosed() throws {
        let a = try TestClient(port: port), b = try TestClient(port: port)
        XCTAssertEqual(a.call("PING"), ["+OK PONG"])
        XCTAssertEqual(b.call("PING"), ["+OK PONG"])
        let c = try TestClient(port: port)
        XCTAssertEqual(c.line(), "-ERR TOO_MANY_CONNECTIONS the server allows 2 connections")
        XCTAssertNil(c.line())
        XCTAssertEqual(a.call("PING"), ["+OK PONG"], "the others are unaffected")
    }

    func testIdleConnectionsAreClosed() throws {
        let a = try TestClient(port: port)
        XCTAssertEqual(a.call("PING"), ["+OK PONG"])
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(a.line(), "-ERR IDLE no request for 400 ms; closing")
        XCTAssertNil(a.line())
        let b = try TestClient(port: port)   // the slot was given back
        XCTAssertEqual(b.call("PING"), ["+OK PONG"])
    }
}
