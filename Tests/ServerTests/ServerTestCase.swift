import Foundation
import XCTest
import TestSupport
@testable import FragranceServer
@testable import FragranceStore

/// A real server on a free loopback port over a fresh data directory, for each test.
class ServerTestCase: XCTestCase {
    var dir: URL!
    var db: Database!
    var server: LineServer!
    var port = 0

    /// Overridden by tests that need other limits.
    func configure(_ config: inout LineServer.Configuration) {}

    override func setUpWithError() throws {
        dir = temporaryDirectory("\(type(of: self))", create: false)
        db = try Database(directory: dir)
        var config = LineServer.Configuration()
        config.port = 0
        configure(&config)
        server = LineServer(router: try CommandRouter(database: db), configuration: config)
        port = try server.start()
    }

    override func tearDownWithError() throws {
        server.stop()
        try db.close()
        try? FileManager.default.removeItem(at: dir)
    }
}
