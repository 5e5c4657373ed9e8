import Foundation
import XCTest
@testable import FragranceStore
@testable import Perfumery

final class NormaliserTests: XCTestCase {
    let vocabulary = try! Vocabulary.bundled()
    var normaliser: PerfumeNormaliser { PerfumeNormaliser(vocabulary: vocabulary) }

    func record(_ json: String) throws -> Record {
        try normaliser.record(from: JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any])
    }

    func strings(_ r: Record, _ k: String) -> [String]? {
        if case .strings(let s)? = r.attributes[k] { return s }
        return nil
    }

    func string(_ r: Record, _ k: String) -> String? {
        if case .string(let s)? = r.attributes[k] { return s }
        return nil
    }

    func testNotesAreFoldedAndMergedThroughTheSynonymTable() throws {
        let r = try record(#"{"id": "a", "name": "X", "notes": {"top": [" Bergamot ", "bergamot"], "base": ["Vetyver", "Oak moss", "Ylang ylang", "Patchouly"]}}"#)
        guard case .tiered(let t)? = r.attributes["notes"] else { return XCTFail() }
        XCTAssertEqual(t["top"], ["bergamot"])
        XCTAssertEqual(t["base"], ["vetiver", "oakmoss", "ylang-ylang", "patchouli"])
        XCTAssertEqual(vocabulary.canonicalNote("VETYVER"), "vetiver")
    }

    /// The byte-level paths for ASCII text give exactly what the Unicode-aware ones give.
    func testASCIIFastPathsEqualTheGeneralOnes() {
        func general(_ s: String) -> String { s.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased() }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(" \t\nAbZz09-'.,()  Eau De PARFUM intense")
        var samples = ["", " ", "  Pink  Pepper ", "Vetyver", "Eau de Toilette Intense", "a\tb", "Tonka\nBean", "Crème", "ÉTÉ Rose", "  x"]
        for _ in 0..<2000 { samples.append(String((0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })) }
        for s in samples {
            XCTAssertEqual(Vocabulary.fold(s), general(s), "fold of \(s.debugDescription)")
            if let fast = Vocabulary.foldASCII(s) { XCTAssertEqual(fast, general(s), s.debugDescription) }
            XCTAssertEqual(trimmed(s), s.trimmingCharacters(in: .whitespacesAndNewlines), s.debugDescription)
        }
        XCTAssertNil(Vocabulary.foldASCII("Crème"), "non-ASCII takes the general path")
        XCTAssertEqual(normaliser.concentrationIntensity("Terre d'Hermès Eau Intense Vétiver"), normaliser.concentrationIntensity("terre d hermes eau intense vetiver"))
        XCTAssertEqual(normaliser.concentrationIntensity("L'Eau-de-Cologne (2019)"), normaliser.concentrationIntensity("l eau de cologne 2019"))
        XCTAssertEqual(normaliser.concentrationIntensity("Terre d'Hermès Eau Intense Vétiver"), "strong")
        XCTAssertEqual(normaliser.concentrationIntensity("L'Eau-de-Cologne (2019)"), "light")
        XCTAssertEqual(normaliser.concentrationIntensity("Pour Homme Eau de Toilette"), "moderate")
        XCTAssertEqual(normaliser.concentrationIntensity("EDT"), "moderate", "a whole name that is the word")
        XCTAssertNil(normaliser.concentrationIntensity("Parfumerie Générale No. 3"), "whole words only: 'parfumerie' is not 'parfum'")
        XCTAssertNil(normaliser.concentrationIntensity("Pamplelune"))
        XCTAssertNil(normaliser.concentrationIntensity(""))
    }

    func testObservedValuesWinAndDerivedOnesAreMarked() throws {
        let voted = try record(#"{"id": "a", "name": "Summer Eau de Cologne", "accords": ["amber", "vanilla"], "seasons": ["summer"], "family": "Oriental Floral", "sillage": {"label": "enormous", "votes": {"intimate": 0, "moderate": 0, "strong": 1, "enormous": 9}}, "longevity": {"label": "eternal", "votes": {"very_weak": 0, "weak": 0, "moderate": 0, "long_lasting": 2, "eternal": 8}}}"#)
        XCTAssertEqual(strings(voted, "seasons"), ["summer"])
        XCTAssertEqual(string(voted, "seasons_origin"), "observed")
        XCTAssertEqual(string(voted, "intensity"), "strong", "votes beat the name's 'Cologne'")
        XCTAssertEqual(string(voted, "intensity_origin"), "observed")
        XCTAssertEqual(string(voted, "family"), "Oriental Floral")
        XCTAssertEqual(strings(voted, "families"), ["oriental", "floral"])
        XCTAssertEqual(string(voted, "family_origin"), "observed")
        XCTAssertEqual(string(voted, "sillage"), "enormous")

        let derived = try record(#"{"id": "b", "name": "Aqua Eau de Toilette", "accords": ["citrus", "aquatic", "fresh spicy"]}"#)
        XCTAssertEqual(strings(derived, "seasons"), ["spring", "summer"])
        XCTAssertEqual(string(derived, "seasons_origin"), "derived")
        XCTAssertEqual(string(derived, "intensity"), "moderate")
        XCTAssertEqual(string(derived, "intensity_origin"), "derived")
        XCTAssertEqual(string(derived, "family"), "citrus")
        XCTAssertEqual(string(derived, "family_origin"), "derived")
        let winter = try record(#"{"id": "c", "name": "Noir Extrait", "accords": ["leather", "smoky", "warm spicy"]}"#)
        XCTAssertEqual(strings(winter, "seasons"), ["fall", "winter"])
        XCTAssertEqual(string(winter, "intensity"), "strong")

        // Unknown stays unknown: no gender, year or seasons are invented.
        let bare = try record(#"{"id": "d", "name": "Mystery"}"#)
        for k in ["gender", "year", "seasons", "intensity", "family"] { XCTAssertNil(bare.attributes[k], k) }
    }

    func testTheEmbeddedTextIsComposedFromFacts() throws {
        let r = try record(#"{"id": "a", "name": "Pear Rose", "brand": "Acme", "gender": "female", "year": 2015, "family": "Floral Fruity", "accords": ["fruity", "floral"], "notes": {"top": ["Pear", "Freesia"], "heart": ["Rose"], "base": ["Patchouli"]}}"#)
        XCTAssertEqual(string(r, "text"), "Pear Rose. Floral fruity perfume for women, 2015. Accords: fruity, floral. Top: pear, freesia. Heart: rose. Base: patchouli.")
    }

    func testBadRowsSayWhatIsWrong() throws {
        let cases: [(String, String)] = [
            (#"{"name": "X"}"#, "missing 'id'"),
            (#"{"id": "a"}"#, "missing 'name'"),
            (#"{"id": "a", "name": "X", "year": "old"}"#, "'year' must be an integer"),
            (#"{"id": "a", "name": "X", "year": 3000}"#, "'year' must be in 1370...2100"),
            (#"{"id": "a", "name": "X", "gender": "robot"}"#, "'gender' must be female, male or unisex"),
            (#"{"id": "a", "name": "X", "notes": {"middle": ["a"]}}"#, "unknown note tier 'middle'"),
            (#"{"id": "a", "name": "X", "colour": "red"}"#, "unknown field 'colour'"),
            (#"{"id": "a", "name": "X", "rating": 7}"#, "'rating' must be in 0.0...5.0"),
            ("{\"id\": \"a\", \"name\": \"\(String(repeating: "x", count: 400))\"}", "'name' is longer than 300"),
        ]
        for (json, expected) in cases {
            XCTAssertThrowsError(try record(json), json) { XCTAssertTrue("\($0)".contains(expected), "\($0) should say \(expected)") }
        }
        XCTAssertThrowsError(try normaliser.record(from: ["id": "a", "name": "X", "vector": [1, 2]], dimension: 3)) {
            XCTAssertTrue("\($0)".contains("'vector' has 2 numbers; the collection takes 3"))
        }
        var lenient = normaliser
        lenient.ignoreUnknownFields = true
        XCTAssertNoThrow(try lenient.record(from: ["id": "a", "name": "X", "url": "https://…"]))
    }

    func testMaterials() throws {
        let m = MaterialNormaliser()
        let r = try m.record(from: ["id": "8007-75-8", "name": "Bergamot oil", "cas": "8007-75-8", "odor_descriptors": ["Citrus", "fresh"],
                                    "family": "citrus", "ifra_limit_pct": 0.4])
        XCTAssertEqual(r.attributes["ifra_status"], .string("restricted"))
        XCTAssertEqual(r.attributes["descriptors"], .strings(["citrus", "fresh"]))
        XCTAssertEqual(r.attributes["text"], .string("Bergamot oil. Citrus material: citrus, fresh."))
        XCTAssertEqual(try m.record(from: ["id": "x", "name": "Y", "ifra_prohibited": true]).attributes["ifra_status"], .string("prohibited"))
        XCTAssertThrowsError(try m.record(from: ["id": "x", "name": "Y", "cas": "not-a-cas"]))
    }

    func testCSVWithAMapping() throws {
        let csv = "Perfume,House,Year,Top notes,Skip\r\n\"Rose, Noir\",Acme,2001,\"Rose, Pepper\",x\nPlain,B,19xx,,y\n\"Multi\nline\",C,2010,Oud,z\nshort,row\n"
        let mapping = RowReader.CSVMapping(columns: ["Perfume": "name", "House": "brand", "Year": "year", "Top notes": "notes.top", "Skip": "id"])
        let rows = try RowReader.rows(Array(csv.utf8), format: .csv, mapping: mapping)
        XCTAssertEqual(rows.map(\.line), [2, 3, 4, 6])
        let first = try XCTUnwrap(try? rows[0].object.get())
        XCTAssertEqual(first["name"] as? String, "Rose, Noir")
        XCTAssertEqual((first["notes"] as? [String: Any])?["top"] as? [String], ["Rose", "Pepper"])
        let r = try normaliser.record(from: first)
        XCTAssertEqual(r.attributes["year"], .int(2001))
        XCTAssertThrowsError(try normaliser.record(from: try rows[1].object.get())) { XCTAssertTrue("\($0)".contains("'year' must be an integer")) }
        XCTAssertEqual(try rows[2].object.get()["name"] as? String, "Multi\nline")
        XCTAssertThrowsError(try rows[3].object.get()) { XCTAssertTrue("\($0)".contains("2 cells; the header has 5")) }

        // Issue #19: a mapped column the header lacks was dropped from every row without a word.
        let typo = RowReader.CSVMapping(columns: ["Perfume": "name", "Yaer": "year"])
        XCTAssertThrowsError(try RowReader.rows(Array(csv.utf8), format: .csv, mapping: typo)) { error in
            XCTAssertTrue("\(error)".contains("'Yaer'") && "\(error)".contains("did you mean 'Year'"), "\(error)")
        }
    }

    func testTheBundledCatalogueReadsAndNormalisesCleanly() throws {
        let rows = try BundledCatalogue.rows(.perfume)
        XCTAssertEqual(rows.count, 46_977)
        var rejected = 0, derivedSeasons = 0, observedSeasons = 0, withIntensity = 0
        for row in rows {
            guard let r = try? normaliser.record(from: row.object.get()) else { rejected += 1; continue }
            if r.attributes["seasons_origin"] == .string("derived") { derivedSeasons += 1 }
            if r.attributes["seasons_origin"] == .string("observed") { observedSeasons += 1 }
            if r.attributes["intensity"] != nil { withIntensity += 1 }
            XCTAssertNil(r.attributes["description"], "the catalogue holds facts, no prose")
        }
        XCTAssertEqual(rejected, 0)
        XCTAssertEqual(observedSeasons, 2_232, "every perfume with season votes keeps them (one has votes on day only)")
        XCTAssertGreaterThan(derivedSeasons, 30_000)
        XCTAssertGreaterThan(withIntensity, 30_000)
        // Every row also passes the collection schema, as the importer checks it (11 materials
        // have strength "very high": that failed the whole materials load before the schema knew it).
        let vocabulary = try Vocabulary.bundled()
        for kind in Importer.Kind.allCases {
            let importer = Importer(kind: kind, vocabulary: vocabulary)
            var failures: [String] = []
            for row in try BundledCatalogue.rows(kind) {
                do { _ = try importer.normalise(try row.object.get(), dimension: 384) } catch { failures.append("line \(row.line): \(error)") }
            }
            XCTAssertEqual(failures.count, 0, "\(kind): \(failures.prefix(3))")
        }
        let materials = try BundledCatalogue.rows(.material)
        XCTAssertEqual(materials.count, 9_153)
        XCTAssertEqual(materials.filter { (try? MaterialNormaliser().record(from: $0.object.get()))?.attributes["strength"] == .string("very high") }.count, 11)
    }
}

extension NormaliserTests {
    /// schemas/*.schema.json and the normalisers accept the same fields.
    func testJSONSchemasMatchTheNormalisers() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for (file, fields) in [("perfume", PerfumeNormaliser.fields), ("material", MaterialNormaliser.fields)] {
            let data = try Data(contentsOf: repo.appendingPathComponent("schemas/\(file).schema.json"))
            let schema = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            XCTAssertEqual(Set((schema["properties"] as? [String: Any] ?? [:]).keys), fields, file)
            XCTAssertEqual(schema["required"] as? [String], ["id", "name"])
        }
    }
}
