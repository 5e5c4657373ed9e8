import FragranceCore
import FragranceProtocol
import Foundation
import XCTest
@testable import FragranceStore
@testable import Perfumery

/// JSON Lines rows whose vectors are lifted from the text give the same objects as the general
/// parser, and unusual rows fall back to it.
final class VectorScannerTests: XCTestCase {
    func parsed(_ line: String) -> Result<[String: Any], RowError> {
        try! RowReader.rows(Array(line.utf8), format: .jsonl)[0].object   // JSON Lines never throws
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

    /// The exact fast path (integer digits times a power of ten) gives strtod's double, so the
    /// same float, for short decimals like the catalogue's, and long or extreme ones still parse.
    func testShortDecimalsParseAsStrtodDoes() throws {
        var rng = SystemRandomNumberGenerator()
        var texts = ["0", "-0", "0.0", "-0.000", "1", "-1", "4.5e-05", "4.5E+05", "1e22", "1e23", "1e-22", "1e-23",
                     "123456789012345", "1234567890123456", "0.1", "0.2", "0.3", "9007199254740993", "1.7976931348623157e308",
                     "2.2250738585072014e-308", "4.9e-324", "3.4028235e38", "1.00000000000000000001", "100000000000000000000000",
                     "0.000000000000000000000000001", "12345.678e-3", "1e0005", "7e-0"]
        for _ in 0..<20_000 {
            let digits = Int.random(in: 1...17, using: &rng)
            var m = String(Int.random(in: 1...9, using: &rng))
            for _ in 1..<digits { m += String(Int.random(in: 0...9, using: &rng)) }
            let point = Int.random(in: 0...digits, using: &rng)
            var t = point == digits ? m : (point == 0 ? "0." + m : String(m.prefix(point)) + "." + m.dropFirst(point))
            if Bool.random(using: &rng) { t += "e" + String(Int.random(in: -30...30, using: &rng)) }
            texts.append(Bool.random(using: &rng) ? "-" + t : t)
        }
        texts += (0..<5_000).map { _ in "\(Float.random(in: -1...1, using: &rng))" }
        let line = #"{"id": "a", "vector": ["# + texts.joined(separator: ",") + "]}"
        let lifted = try XCTUnwrap(VectorScanner.lift(Data(line.utf8)), "the fast path applies").vectors[0]!
        for (t, f) in zip(texts, lifted) {
            XCTAssertEqual(f.bitPattern, Float(strtod(t, nil)).bitPattern, t)
        }
        XCTAssertEqual(lifted.count, texts.count)
        XCTAssertNil(ClingerFastPath.exactly(1, significant: 1, power: 23), "10^23 is not an exact double")
        XCTAssertEqual(ClingerFastPath.exactly(45, significant: 2, power: -6), 4.5e-05)
    }

    /// What the TCP importer sends: records written as text read back to equal records,
    /// every vector component to the same Float bits, odd strings and every value kind included.
    func testRecordsWrittenAsTextReadBackBitForBit() throws {
        var rng = SystemRandomNumberGenerator()
        let odd: [Float] = [0, -0.0, 1, -3, 1e-7, -2.5e3, 3.4028235e38, 1.1754944e-38, 16777217, 0.1, 1e-45, 123456.79]
        let records = (0..<50).map { i -> Record in
            var r = Record(id: i == 0 ? "quote \" and \\ and\nnewline" : "r\(i)",
                           vector: (0..<384).map { _ in Float.random(in: -1...1, using: &rng) } + (i == 1 ? odd : []))
            r.attributes["name"] = .string("Eau \u{e9}t\u{e9} \(i)")
            r.attributes["year"] = .int(1990 + Int64(i))
            r.attributes["rating"] = .float(i % 2 == 0 ? 4.0 : 3.87)
            r.attributes["seasons"] = .strings(["spring", "summer"])
            r.attributes["notes"] = .tiered(["top": ["bergamot"], "base": ["musk", "amber"]])
            return r
        }
        let text = Record.jsonList(records, includeVectors: true)
        let back = try Record.decodeList(json: text)
        XCTAssertEqual(back.count, records.count)
        for (a, b) in zip(records, back) {
            XCTAssertEqual(a.id, b.id)
            XCTAssertEqual(a.vector!.map(\.bitPattern), b.vector!.map(\.bitPattern), a.id)
            XCTAssertEqual(b.attributes["rating"].flatMap { if case .float(let d) = $0 { d } else if case .int(let n) = $0 { Double(n) } else { nil } },
                           a.attributes["rating"].flatMap { if case .float(let d) = $0 { d } else { nil } })
            var plain = b.attributes, expected = a.attributes
            plain["rating"] = nil; expected["rating"] = nil
            XCTAssertEqual(plain, expected)
        }
        // The same text as the general writer gives for everything but the vector.
        XCTAssertEqual(records[3].jsonText(), jsonText(records[3].jsonObject()))
        XCTAssertEqual(Record(id: "nan", vector: [.nan, 1]).jsonText(includeVector: true), #"{"id":"nan","vector":[null,1]}"#)
    }

    /// UPSERT's records: one object or a list; each object's vector lifted, the same records
    /// as the general parser gives.
    func testRecordListsDecodeTheSameWithLiftedVectors() throws {
        let text = """
        [{"id": "a", "vector": [0.1, -2e-3, 3], "name": "x", "notes": {"vector": ["oud"]}},
         {"id": "b", "name": "no vector"},
         {"id": "c", "vector": null},
         {"id": "d",
          "vector" : [1.5,
                      2.25], "year": 1999}]
        """
        XCTAssertEqual(VectorScanner.lift(Data(text.utf8))?.vectors.keys.sorted(), [0, 3])
        let fast = try Record.decodeList(json: text)
        let general = try (JSONSerialization.jsonObject(with: Data(text.utf8)) as! [Any]).map { try Record(jsonObject: $0) }
        XCTAssertEqual(fast, general)
        XCTAssertEqual(fast.map(\.vector), [[0.1, -2e-3, 3], nil, nil, [1.5, 2.25]])
        XCTAssertEqual(try Record.decodeList(json: #"{"id": "s", "vector": [4, 5]}"#).first?.vector, [4, 5])
        XCTAssertThrowsError(try Record.decodeList(json: #"[{"id": "e", "vector": [1, true]}]"#)) { e in
            XCTAssertTrue("\(e)".contains("must hold only numbers"), "\(e)")
        }
        XCTAssertThrowsError(try Record.decodeList(json: #"[{"id": "e", "vector": [1, 2]"#)) { e in
            XCTAssertTrue("\(e)".contains("not valid JSON"), "\(e)")
        }
        // Attribute values keep their JSON types, booleans included.
        let typed = try Record.decodeList(json: #"{"id": "t", "name": "Rose", "year": 1921, "rating": 4.5, "seasons": ["spring"], "notes": {"top": ["rose"]}}"#)[0]
        XCTAssertEqual(typed.attributes["name"], .string("Rose"))
        XCTAssertEqual(typed.attributes["year"], .int(1921))
        XCTAssertEqual(typed.attributes["rating"], .float(4.5))
        XCTAssertEqual(typed.attributes["seasons"], .strings(["spring"]))
        XCTAssertEqual(typed.attributes["notes"], .tiered(["top": ["rose"]]))
        XCTAssertEqual(try Record.decodeList(json: #"{"id": "b", "in_stock": false}"#)[0].attributes["in_stock"], .bool(false))
        XCTAssertThrowsError(try Record.decodeList(json: #"{"id": "b", "year": {"a": 1}}"#)) { e in
            XCTAssertTrue("\(e)".contains("'year'"), "\(e)")
        }
        XCTAssertEqual(try Record(jsonObject: ["id": "n", "year": 1921, "name": "N"]).attributes["year"], .int(1921), "Swift numbers too")
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
