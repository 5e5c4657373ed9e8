import Foundation
import XCTest
import TestSupport
@testable import FragranceClient
@testable import FragranceProtocol
@testable import FragranceServer
@testable import FragranceStore

/// One code list (FragranceProtocol.ErrorCode) for the store, both protocols and the client.
final class ErrorCodeTests: ServerTestCase {
    /// The backquoted codes of schemas/protocol.md's "Error codes" section.
    func documentedCodes() throws -> Set<String> {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schemas/protocol.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        guard let start = text.range(of: "## Error codes") else { XCTFail("protocol.md has no Error codes section"); return [] }
        let section = String(text[start.upperBound...]).components(separatedBy: "\n## ").first ?? ""
        let words = section.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        return Set(words.filter { !$0.isEmpty && $0.allSatisfy { $0.isUppercase || $0 == "_" } })
    }

    func testProtocolDocumentListsExactlyTheCodes() throws {
        let documented = try documentedCodes()
        let known = Set(ErrorCode.allCases.map(\.rawValue))
        XCTAssertEqual(documented.subtracting(known), [], "documented but not in ErrorCode")
        XCTAssertEqual(known.subtracting(documented), [], "in ErrorCode but not documented in schemas/protocol.md")
    }

    func testTheClientNamesEveryCodeTheServerSends() async throws {
        let client = FragranceClient(host: "127.0.0.1", port: port, connections: 1)
        // OUT_OF_RANGE, like five other codes, was `.other` before the client shared the list.
        do {
            _ = try await client.send(#"CREATE x {"dimension": 4, "seed": -1}"#)
            XCTFail("seed -1 must fail")
        } catch FragranceClientError.server(let c, let message) {
            XCTAssertEqual(c, .outOfRange)
            XCTAssertEqual(message, "'seed' must be 0 to \(Int.max), got -1")
        }
        let replies = try await client.pipeline([#"CREATE y {"dimension": 4,}"#, "PING"])
        XCTAssertEqual(replies.last, .ok("PONG"))
        guard case .error(let raw, _) = replies[0] else { return XCTFail("\(replies)") }
        XCTAssertEqual(ErrorCode(rawValue: raw), .badJSON)
        try await client.createCollection("x", definition: #"{"dimension": 2}"#)
        do {
            try await client.createCollection("x", definition: #"{"dimension": 2}"#)
            XCTFail("a second CREATE must fail")
        } catch FragranceClientError.server(let c, _) {
            XCTAssertEqual(c, .alreadyExists)
        }
        do {
            _ = try await client.upsert("x", [["id": "a", "vector": "nope"]])
            XCTFail("a bad record must fail")
        } catch FragranceClientError.server(let c, _) {
            XCTAssertTrue([.badRecord, .badType, .badJSON, .badRequest].contains(c), "\(c)")
        }
        await client.close()
    }

    func testStatusesFollowTheCode() {
        XCTAssertEqual(ErrorCode.notFound.httpStatus, 404)
        XCTAssertEqual(ErrorCode.alreadyExists.httpStatus, 409)
        XCTAssertEqual(ErrorCode.tooLarge.httpStatus, 413)
        XCTAssertEqual(ErrorCode.rateLimited.httpStatus, 429)
        XCTAssertEqual(ErrorCode.badJSON.httpStatus, 400)
        // A newer server's code is kept as it came, not turned into a protocol violation.
        XCTAssertEqual(FragranceClientError.reply("NEWER_CODE", "x").description, "NEWER_CODE x")
        XCTAssertEqual(FragranceClientError.reply("NEWER_CODE", "x").code, "NEWER_CODE")
    }
}

/// The command table lives in FragranceProtocol; the server must run exactly what it lists.
final class CommandTableTests: XCTestCase {
    func testEveryListedCommandHasAHandlerAndNothingElseDoes() {
        let sessionCommands: Set<String> = ["AUTH", "HELLO", "QUIT"]   // handled before the table
        let listed = Set(CommandTable.all.map(\.name))
        XCTAssertEqual(Set(CommandRouter.commands.keys), listed.subtracting(sessionCommands))
        XCTAssertEqual(CommandTable.all.count, listed.count, "names are unique")
        // The shell completes from the same table (it once missed SNAPSHOT, RESTORE, MODE, RAW).
        for w in ["SNAPSHOT", "RESTORE", "MODE", "RAW", "FILTER", "EXACT"] { XCTAssertTrue(CommandTable.words.contains(w), w) }
    }

    func testHelpAndRoleChecksComeFromTheTable() async throws {
        let dir = temporaryDirectory("table", create: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Database(directory: dir)
        defer { try? db.close() }
        let router = try CommandRouter(database: db)
        guard case .lines(let help) = router.handle(line: "HELP").reply else { return XCTFail("HELP") }
        XCTAssertEqual(help, CommandTable.all.map { jsonText($0.help) })
        guard case .lines(let one) = router.handle(line: "help drop").reply else { return XCTFail("HELP DROP") }
        XCTAssertEqual(one, [jsonText("DROP <name> — delete a collection and all its records [admin]")])
        let access = try await AccessControl(keys: [APIKey(name: "r", role: .read, secret: "read-key")])
        let guarded = CommandRouter(service: try FragranceService(database: db, access: access))
        let session = CommandRouter.Session()
        _ = guarded.handle(line: "AUTH read-key", session: session)
        for spec in CommandTable.all where spec.role == .admin {
            guard case .error(let code, _) = guarded.handle(line: "\(spec.name) x", session: session).reply else { return XCTFail(spec.name) }
            XCTAssertEqual(code, ErrorCode.forbidden.rawValue, spec.name)
        }
    }
}

/// The protocol's reply decoder reads back what the server's encoder writes (the client
/// decodes with it).
final class ReplyDecoderTests: XCTestCase {
    func testEveryReplyShapeRoundTrips() throws {
        let replies: [Reply] = [.ok(nil), .ok("created p"), .lines([]), .lines(["{\"id\":\"a\"}", "\"b\""]),
                                .error(.notFound, "no record 'x' in 'p'"), .ok("PONG")]
        var decoder = ReplyDecoder()
        var decoded: [Reply] = []
        for line in replies.map(\.encoded).joined().components(separatedBy: "\r\n").dropLast() {
            if let r = try decoder.feed(line) { decoded.append(r) }
        }
        XCTAssertEqual(decoded, replies)
        XCTAssertThrowsError(try decoder.feed("hello")) { XCTAssertEqual(($0 as? ProtocolError)?.code, .protocolViolation) }
        XCTAssertEqual(try LineTokenizer.tokenize("Q " + Token.quote("a \"b\" \\ c\nd")), [.word("Q"), .quoted("a \"b\" \\ c\nd")])
    }
}
