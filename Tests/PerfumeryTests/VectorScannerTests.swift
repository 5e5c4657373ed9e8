import Foundation
import XCTest
@testable import Perfumery

/// JSON Lines rows whose vectors are lifted from the text give the same objects as the general
/// parser, and unusual rows fall back to it.
final class VectorScannerTests: XCTestCase {
    func parsed(_ line: String) -> Result<[String: Any], RowError> {
        RowReader.rows(Array(line.utf8), format: .jsonl)[0].object
    }

    func testLiftedVectorsEqualTheGeneralParsersNumbers() throws {
        var rng = SystemRandomNumberGenerator()
        let numbers = (0..<384).map { _ in Double.random(in: -1...1, using: &rng) } + [0, -0.0, 1e-7, -2.5E+3, 123456789.125, 1]
        let text = numbers.map { "\($0)" }.joined(separator: ", ")
        let line = #"{"id": "a", "name": "vector \"vector\": [9]", "notes": {"vector": [7]}, "vector" :  [ "# + text + " ] , \"year\": 2001}"
        XCTAssertNotNil(VectorScanner.lift(Data(line.utf8)), "the fast path applies")
        let o = try parsed(line).get()
        let general = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(o["vector"] as? [Float], (general["vector"] as! [NSNumber]).map(\.floatValue))
        XCTAssertEqual(o["name"] as? String, #"vector "vector": [9]"#)
        XCTAssertEqual((o["notes"] as? [String: Any])?["vector"] as? [Int], [7])
        XCTAssertEqual(o["year"] as? Int, 2001)
    }

    func testUnusualRowsFallBackToTheGeneralParser() throws {
        for line in [#"{"id": "a", "vector": [1, "2"]}"#, #"{"id": "a", "vector": [[1], [2]]}"#, #"{"id": "a", "vector": []}"#,
                     #"{"id": "a", "vec\u0074or": [1, 2]}"#, #"{"id": "a", "vector": [1, 2], "vector": [3]}"#] {
            let general = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let o = try parsed(line).get()
            XCTAssertEqual(o.keys.sorted(), general.keys.sorted(), line)
            XCTAssertEqual("\(o["vector"] ?? "nil")", "\(general["vector"] ?? "nil")", line)
        }
        // Not JSON's number grammar, or not JSON at all: the same errors as before.
        for line in [#"{"id": "a", "vector": [01, 2]}"#, #"{"id": "a", "vector": [NaN]}"#,
                     #"{"id": "a", "vector": [1, 2] "#, #"{"id": "a", "vector": [+1]}"#] {
            guard case .failure(let e) = parsed(line) else { XCTFail("accepted: \(line)"); continue }
            XCTAssertEqual(e.reason, "not valid JSON", line)
        }
    }
}
