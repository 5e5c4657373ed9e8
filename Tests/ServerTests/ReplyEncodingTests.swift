import Foundation
import XCTest
import TestSupport
@testable import FragranceServer
@testable import FragranceStore

/// Records in replies are written directly (SortedJSONEncoder.RawObject), not through Codable:
/// the bytes must be what Foundation's JSONEncoder writes for the same RecordBody.
final class ReplyEncodingTests: XCTestCase {
    private func foundation<T: Encodable>(_ value: T) throws -> String { try foundationReplyJSON(value) }

    func testRecordsAreWrittenAsJSONEncoderWritesThem() throws {
        var g = SystemRandomNumberGenerator()
        let words = ["rose", "Oud", "향수", "n°5", "quote\"", "back\\slash", "tab\t", "nul\u{0}", "é", "🌸", "/", "a10", "a2", "B", ""]
        func word() -> String { (0..<Int.random(in: 0...3, using: &g)).map { _ in words.randomElement(using: &g)! }.joined() }
        func value() -> AttributeValue {
            switch Int.random(in: 0..<6, using: &g) {
            case 0: return .string(word())
            case 1: return .int(Int64.random(in: Int64.min...Int64.max, using: &g))
            case 2: return .float([0.1, -0.0, 1e20, 3.0, 1e-7, 2.5e15, .pi, Double(Float.random(in: -1...1, using: &g))].randomElement(using: &g)!)
            case 3: return .bool(Bool.random(using: &g))
            case 4: return .strings((0..<Int.random(in: 0...4, using: &g)).map { _ in word() })
            default: return .tiered(Dictionary((0..<Int.random(in: 0...4, using: &g)).map { _ in (word(), (0..<Int.random(in: 0...3, using: &g)).map { _ in word() }) },
                                               uniquingKeysWith: { a, _ in a }))
            }
        }
        for i in 0..<2000 {
            var attributes: [String: AttributeValue] = [:]
            for _ in 0..<Int.random(in: 0...8, using: &g) { attributes[word() + "f"] = value() }
            let vector = Bool.random(using: &g) ? (0..<Int.random(in: 1...8, using: &g)).map { _ in Float.random(in: -2...2, using: &g) } + [1, 0, -0.0, 1e-8] : nil
            let body = RecordBody(record: Record(id: word() + "\(i)", vector: vector, attributes: attributes),
                                  includeId: Bool.random(using: &g), includeVector: Bool.random(using: &g))
            let expected = try foundation(body)
            XCTAssertEqual(ReplyJSON.text(body), expected, "record \(i)")
            if ReplyJSON.text(body) != expected { return }
            // Inside a reply too (the raw object is one node of the tree).
            XCTAssertEqual(ReplyJSON.text(["hits": [body, body]]), try foundation(["hits": [body, body]]))
        }
    }
}
