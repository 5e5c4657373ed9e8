import FragranceCore
import Foundation
import XCTest
@testable import FragranceStore

final class JSONWriterTests: XCTestCase {
    func testOutputParsesBackToTheSameValues() throws {
        let value: [String: Any] = [
            "s": "quote \" backslash \\ newline \n tab \t bell \u{07} 향수 🌸", "i": 42, "neg": Int64(-7), "d": 0.8220084309577942,
            "whole": 3.0, "f": Float(0.5), "t": true, "n": NSNull(), "list": ["a", "b"], "mixed": [1, "x", false, ["k": 1]] as [Any],
            "nested": ["z": 1, "a": [String: Any]()], "inf": Double.infinity,
        ]
        let text = JSONWriter.text(value)
        let back = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(back["s"] as? String, value["s"] as? String)
        XCTAssertEqual(back["i"] as? Int, 42)
        XCTAssertEqual(back["neg"] as? Int, -7)
        XCTAssertEqual(back["d"] as? Double, 0.8220084309577942)
        XCTAssertEqual(back["whole"] as? Double, 3)
        XCTAssertEqual(back["f"] as? Double, 0.5)
        XCTAssertEqual(back["t"] as? Bool, true)
        XCTAssertTrue(back["n"] is NSNull && back["inf"] is NSNull)
        XCTAssertEqual(back["list"] as? [String], ["a", "b"])
        XCTAssertEqual((back["mixed"] as? [Any])?.count, 4)
        XCTAssertTrue(text.hasPrefix(#"{"d":"#), "keys are sorted: \(text)")
        XCTAssertTrue(text.contains(#""nested":{"a":{},"z":1}"#))
        // Numbers from JSONSerialization (NSNumber) keep their kind.
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(#"{"b": true, "x": 1.5, "y": 2}"#.utf8)))
        XCTAssertEqual(JSONWriter.text(parsed), #"{"b":true,"x":1.5,"y":2}"#)
    }
}
