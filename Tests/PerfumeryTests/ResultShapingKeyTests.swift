import Foundation
import XCTest
@testable import RAG
import TestSupport

/// The near-duplicate key keeps exactly what CharacterSet.alphanumerics keeps (the shaping's
/// original definition), now read from the scalars' own properties.
final class ResultShapingKeyTests: XCTestCase {
    private func reference(_ s: String) -> String {
        s.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(String.init).joined()
    }

    func testEveryAssignedScalarIsKeptOrDroppedAsCharacterSetDoes() {
        var differing: [String] = []
        // The basic plane, scalars assigned by Unicode 13: newer ones, and the supplementary
        // planes, are where Foundation's tables lag the stdlib's (Tangut, U+17000, a letter, is
        // not in its set); a duplicate key need only be computed one way, and such names are rare.
        for v in 0..<0x1_0000 {
            guard let u = Unicode.Scalar(v), let age = u.properties.age, age.major < 13 || (age.major == 13 && age.minor == 0) else { continue }
            let s = String(Character(u))
            if ResultShaping.alphanumerics(s) != reference(s) { differing.append(String(format: "U+%04X", v)) }
        }
        XCTAssertEqual(differing.prefix(20), [], "\(differing.count) scalars differ")
    }

    func testEveryNameInTheCatalogueGivesTheSameKey() throws {
        let file = Repository.shared.appendingPathComponent("data/perfumes.jsonl")
        let text = try String(contentsOf: file, encoding: .utf8)
        var checked = 0
        for line in text.split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let name = o["name"] as? String else { continue }
            XCTAssertEqual(ResultShaping.alphanumerics(name.lowercased()), reference(name.lowercased()), name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 40_000)
    }

    func testNamesAsTheCatalogueHasThem() {
        for name in ["Chanel N°5", "L'Eau d'Issey (Pour Homme)", "Bleu de Chanel — Parfum", "Ô de Lancôme", "Baccarat Rouge 540",
                     "향수 No.1", "Ｆｕｌｌ　Ｗｉｄｔｈ", "e\u{301}clat", "Aqua di Giò 2024!", "١٢٣ عطر", ""] {
            XCTAssertEqual(ResultShaping.alphanumerics(name.lowercased()), reference(name.lowercased()), name)
        }
    }
}
