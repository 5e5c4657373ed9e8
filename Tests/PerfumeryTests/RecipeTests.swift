import Embedding
import Foundation
import TestSupport
import XCTest
@testable import FragranceStore
@testable import Perfumery
@testable import RAG

/// Reads ../shared/data itself (not the bundled copies the product reads) and recomputes,
/// for a recipe, every IFRA standard's amount in the finished product (direct use plus what
/// naturals bring, from natural_constituents.jsonl), the EU musk amounts and the allergens
/// above the label threshold: the product's compliance engine is checked against it.
struct Oracle: @unchecked Sendable {   // read-only after init
    struct Standard { var key: String; var cas: Set<String>; var prohibited: Bool; var limits: [String: Any] }
    var standards: [Standard] = []
    var constituents: [String: [(cas: String, pct: Double)]] = [:]
    var allergens: [(name: String, cas: Set<String>, leave: Double, rinse: Double)] = []
    var musks: [(cas: Set<String>, limits: [String: Double])] = []

    init() throws {
        let dir = Repository.shared.appendingPathComponent("data")
        func rows(_ f: String) throws -> [[String: Any]] {
            try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8).split(separator: "\n")
                .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        standards = try rows("ifra_standards.jsonl").map {
            Standard(key: $0["key"] as! String, cas: Set($0["cas"] as! [String]), prohibited: $0["prohibited"] as! Bool, limits: $0["limits_pct"] as? [String: Any] ?? [:])
        }
        for o in try rows("natural_constituents.jsonl") {   // a natural listed twice: the higher level of each constituent
            let key = (o["natural"] as! String).lowercased()
            var merged = Dictionary(uniqueKeysWithValues: (constituents[key] ?? []).map { ($0.cas, $0.pct) })
            for c in o["constituents"] as! [[String: Any]] { merged[c["cas"] as! String] = max(merged[c["cas"] as! String] ?? 0, (c["pct"] as! NSNumber).doubleValue) }
            constituents[key] = merged.map { ($0.key, $0.value) }
        }
        allergens = try rows("eu_fragrance_allergens.jsonl").map {
            let t = $0["label_above_pct"] as! [String: Any]
            return ($0["name"] as! String, Set($0["cas"] as! [String]), (t["leave_on"] as! NSNumber).doubleValue, (t["rinse_off"] as! NSNumber).doubleValue)
        }
        musks = try rows("eu_annex_iii_musks.jsonl").map { (Set($0["cas"] as! [String]), ($0["max_pct_finished_product"] as! [String: NSNumber]).mapValues(\.doubleValue)) }
    }

    /// CAS -> % of the product, for lines (cas, natural name for its constituents, % of concentrate).
    func amounts(_ lines: [(cas: String, natural: String?, pct: Double)], share: Double) -> [String: Double] {
        var out: [String: Double] = [:]
        for l in lines {
            out[l.cas, default: 0] += l.pct * share / 100
            for c in l.natural.flatMap({ constituents[$0.lowercased()] }) ?? [] where c.cas != l.cas {
                out[c.cas, default: 0] += l.pct * share / 100 * c.pct / 100
            }
        }
        return out
    }

    /// Numeric limits broken (key, amount, limit) in a category.
    func breaches(_ a: [String: Double], category: String, musk: String) -> [(String, Double, Double)] {
        var out: [(String, Double, Double)] = []
        for s in standards {
            let amount = s.cas.reduce(0) { $0 + (a[$1] ?? 0) }
            guard amount > 0 else { continue }
            if let lim = (s.limits["cat\(category)"] as? NSNumber)?.doubleValue, amount > lim + 1e-9 { out.append((s.key, amount, lim)) }
        }
        for m in musks {
            let amount = m.cas.reduce(0) { $0 + (a[$1] ?? 0) }
            if let lim = m.limits[musk], amount > lim + 1e-9 { out.append(("musk", amount, lim)) }
        }
        return out
    }

    func declared(_ a: [String: Double], rinseOff: Bool) -> [String: Double] {
        var out: [String: Double] = [:]
        for al in allergens where !al.cas.isEmpty {
            let amount = al.cas.reduce(0) { $0 + (a[$1] ?? 0) }
            if amount > (rinseOff ? al.rinse : al.leave) { out[al.name] = amount }
        }
        return out
    }
}

/// The palette, the compliance engine, the composer and the validator against the real data.
final class RecipeTests: XCTestCase {
    static let catalog = MaterialCatalog(rows: try! BundledCatalogue.rows(.material))
    static let palette = try! Palette.bundled()
    static let compliance = RecipeCompliance(palette: palette, engine: ComplianceEngine(data: try! ComplianceData.bundled()), catalog: catalog)
    static let oracle = try! Oracle()
    var validator: RecipeValidator { RecipeValidator(compliance: Self.compliance) }
    var composer: RecipeComposer { RecipeComposer(palette: Self.palette, compliance: Self.compliance) }

    func p(_ id: String, _ pct: Double) -> Recipe.Ingredient {
        let m = Self.palette.material(id: id)!
        return Recipe.Ingredient(materialId: m.cas, name: m.name, percent: pct)
    }

    /// A recipe's lines as the oracle reads them: the palette's CAS and natural names.
    func oracleLines(_ r: Recipe) -> [(cas: String, natural: String?, pct: Double)] {
        r.ingredients.map { i in
            let m = Self.palette.find(i.materialId)!
            return (m.cas, m.constituents, i.percent)
        }
    }

    func testThePaletteJoinsTheCatalogueAndNothingInItIsProhibited() throws {
        let pal = Self.palette
        XCTAssertGreaterThanOrEqual(pal.materials.count, 200)
        let synthetic = pal.materials.filter { !$0.natural }.count
        XCTAssertGreaterThan(synthetic, pal.materials.count / 2, "mostly aroma chemicals")
        for m in pal.materials {
            XCTAssertNotNil(Self.catalog.byId[m.cas], "\(m.id): CAS \(m.cas) is not in the materials catalogue")
            if let k = m.constituents { XCTAssertNotNil(Self.oracle.constituents[k.lowercased()], "\(m.id): no constituents entry '\(k)'") }
            let hits = Self.oracle.standards.filter { $0.cas.contains(m.cas) && $0.prohibited }
            XCTAssertTrue(hits.isEmpty, "\(m.id) is prohibited by \(hits.map(\.key))")
        }
        XCTAssertEqual(pal.accord(for: "Sea Notes")?.name, "marine")
        XCTAssertEqual(pal.accord(for: "water notes")?.name, "marine")
        XCTAssertEqual(pal.accord(for: "Bulgarian Rose")?.name, "rose")
        XCTAssertEqual(pal.accord(for: "Rosemary")?.name, "aromatic_herbal")
        XCTAssertEqual(pal.accord(for: "Orange Blossom")?.name, "orange_blossom")
        XCTAssertEqual(pal.accord(for: "Blood Orange")?.name, "orange")
        XCTAssertEqual(pal.accord(for: "warm spicy")?.name, "spicy_warm")
        XCTAssertNil(pal.accord(for: "xyzzy"))
        // A broken file is refused by name.
        var bad = try JSONSerialization.jsonObject(with: Data(contentsOf: Bundle.module.url(forResource: "palette", withExtension: "json")
            ?? Repository.root.appendingPathComponent("Sources/Perfumery/Resources/palette.json"))) as! [String: Any]
        var accords = bad["accords"] as! [String: Any]
        accords["broken"] = ["role": "top", "families": [], "materials": [["unobtainium", 1]]]
        bad["accords"] = accords
        XCTAssertThrowsError(try Palette(json: JSONSerialization.data(withJSONObject: bad), source: "test palette")) { e in
            XCTAssertTrue("\(e)".contains("accord 'broken' names unknown material 'unobtainium'"), "\(e)")
        }
    }

    func testTheEngineCountsWhatNaturalsBringAndTheProductDecides() throws {
        // Cinnamon leaf oil brings eugenol (IFRA 2.5% in category 4) and clove bud oil more.
        var r = Recipe(name: "t", concentration: .parfum, top: [p("bergamot_oil", 1)], heart: [p("clove_bud_oil", 9), p("eugenol", 5), p("hedione", 40)],
                       base: [p("iso_e_super", 20), p("galaxolide", 25)], generator: "test")
        var report = validator.validate(r)
        XCTAssertFalse(report.valid)
        let eugenol = try XCTUnwrap(report.compliance.breaches.first { $0.substance == "Eugenol" }, "\(report.problems)")
        let a = Self.oracle.amounts(oracleLines(r), share: 24)["97-53-0"]!
        XCTAssertEqual(eugenol.amount, a, accuracy: 1e-6)
        XCTAssertEqual(eugenol.limit, 2.5)
        XCTAssertEqual(Set(eugenol.sources.map(\.ingredient)), ["Clove bud oil", "Eugenol"])
        XCTAssertTrue(eugenol.sources.contains { $0.via != nil }, "the clove oil's share is counted as a constituent")
        XCTAssertTrue(eugenol.message.contains("Clove bud oil (as"), eugenol.message)
        // Allergens: the label lists what the oracle finds above 0.001%.
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: report.allergens.map { ($0.name, $0.percent) }).keys.sorted(),
                       Self.oracle.declared(Self.oracle.amounts(oracleLines(r), share: 24), rinseOff: false).keys.sorted())
        // The same eugenol in a shower gel at 1%: compliant, and labelled at the rinse-off threshold.
        r.product = ProductType(word: "shower gel")!
        r.fragrancePercent = 1
        report = validator.validate(r)
        XCTAssertTrue(report.compliance.breaches.isEmpty, "\(report.compliance.breaches)")
        XCTAssertEqual(report.compliance.category, .c9)
        XCTAssertEqual(report.compliance.labelThreshold, 0.01)
        // A deodorant (category 2) is far stricter: eugenol 0.14%.
        r.product = ProductType(word: "deodorant")!
        r.fragrancePercent = 1.5
        XCTAssertFalse(validator.validate(r).compliance.breaches.isEmpty)
        // Prohibited and unknown materials.
        var bad = r
        bad.product = .fineFragrance
        bad.fragrancePercent = 16
        bad.base.append(Recipe.Ingredient(materialId: "8001-88-5", name: "", percent: 1))   // birch tar oil: IFRA prohibition
        bad.base.append(Recipe.Ingredient(materialId: "999-99-9", name: "Unobtainium", percent: 1))
        let codes = Set(validator.validate(bad).problems.filter { $0.severity == .error }.map(\.code))
        XCTAssertTrue(codes.isSuperset(of: ["PROHIBITED", "UNKNOWN_MATERIAL", "SUM"]), "\(codes)")
    }

    func testMuskKetoneIsHeldToTheEUAnnexIIILimit() throws {
        let musk = Recipe.Ingredient(materialId: "81-14-1", name: "Musk ketone", percent: 9)
        let r = Recipe(name: "t", concentration: .edp, top: [p("bergamot_oil", 1)], heart: [p("hedione", 50)], base: [musk, p("iso_e_super", 20), p("galaxolide", 20)],
                       generator: "test")
        let b = try XCTUnwrap(validator.validate(r).compliance.breaches.first { $0.code == "EU_ANNEX_III" })
        XCTAssertEqual(b.amount, 9 * 16 / 100, accuracy: 1e-9)
        XCTAssertEqual(b.limit, 1.4)
        var edt = r
        edt.concentration = .edt
        edt.fragrancePercent = 10
        XCTAssertEqual(validator.validate(edt).compliance.breaches.first { $0.code == "EU_ANNEX_III" }?.limit, 0.56)
    }

    func testRepairCapsOrSubstitutesAndSaysSo() throws {
        var r = Recipe(name: "t", concentration: .parfum, top: [p("bergamot_oil", 8), p("citral", 2)], heart: [p("clove_bud_oil", 5), p("hedione", 30)],
                       base: [p("oakmoss_absolute", 3), p("iso_e_super", 22), p("galaxolide", 20), p("coumarin", 10)], generator: "test")
        XCTAssertFalse(validator.validate(r).valid)
        let changes = Self.compliance.repair(&r)
        RecipeComposer.finish(&r, palette: Self.palette)
        let report = validator.validate(r)
        XCTAssertTrue(report.valid, "\(report.problems)")
        XCTAssertTrue(Self.oracle.breaches(Self.oracle.amounts(oracleLines(r), share: 24), category: "4", musk: "fine_fragrance").isEmpty)
        XCTAssertEqual(r.ingredients.reduce(0) { $0 + $1.percent }, 100, accuracy: 0.001)
        for name in ["Bergamot oil (bergapten-free)", "Oakmoss absolute", "Coumarin"] {
            XCTAssertTrue(changes.contains { $0.material == name && !$0.reason.isEmpty }, "\(name): \(changes)")
        }
    }

    func testSubstitutesAreSimilarAndAllowed() throws {
        let coumarin = try XCTUnwrap(Self.palette.material(id: "coumarin"))
        let subs = Self.palette.substitutes(for: coumarin, limit: 5)
        XCTAssertEqual(subs.count, 5)
        XCTAssertFalse(subs.contains { $0.material.id == "coumarin" })
        XCTAssertTrue(subs.allSatisfy { !$0.reason.isEmpty && $0.similarity > 0 })
        XCTAssertEqual(subs.map(\.similarity), subs.map(\.similarity).sorted(by: >))
        XCTAssertTrue(subs.prefix(3).contains { ["powdery", "gourmand"].contains($0.material.family) }, "\(subs.map(\.material.id))")
    }

    /// Real catalogue perfumes of each family as the retrieved context, over a grid of
    /// families, seasons, intensities and products: every recipe compliant by the oracle's own
    /// count, its allergens declared, mostly aroma chemicals, 15-40 ingredients, naturals within
    /// their typical dose, the family's accord present, and the same recipe for the same request.
    func testComposerRecipesAreCompliantRealisticAndRepeatable() throws {
        let vocabulary = try Vocabulary.bundled()
        let normaliser = PerfumeNormaliser(vocabulary: vocabulary)
        let perfumes = try BundledCatalogue.rows(.perfume).prefix(20_000).compactMap { try? normaliser.record(from: $0.object.get()) }
        var checked = 0
        for family in ["floral", "citrus", "woody", "oriental", "gourmand", "aromatic", "fougere", "chypre"] {
            let context = perfumes.filter {
                if case .strings(let f)? = $0.attributes["families"], f.contains(family == "fougere" || family == "chypre" ? "aromatic" : family) { return true }
                return false
            }.prefix(12).enumerated().compactMap { i, r -> RetrievedPerfume? in
                guard case .tiered(let t)? = r.attributes["notes"] else { return nil }
                var accords: [String] = []
                if case .strings(let a)? = r.attributes["accords"] { accords = a }
                return RetrievedPerfume(id: r.id, similarity: 0.8 - Double(i) * 0.02, notes: t, accords: accords)
            }
            for (season, intensity, product) in [("spring", "light", "fine_fragrance"), ("summer", "moderate", "fine_fragrance"), ("fall", "strong", "fine_fragrance"),
                                                 ("winter", "moderate", "body_lotion"), ("summer", "light", "shower_gel"), ("winter", "strong", "candle")] {
                let request = RecipeRequest(family: family, mood: "romantic", intensity: intensity, gender: "feminine", season: season, product: ProductType(word: product))
                let recipe = composer.compose(request, context: context)
                let label = "\(family)/\(season)/\(intensity)/\(product)"
                let report = validator.validate(recipe)
                XCTAssertTrue(report.valid, "\(label): \(report.problems.filter { $0.severity == .error })")
                let amounts = Self.oracle.amounts(oracleLines(recipe), share: recipe.fragrancePercent)
                let musk = recipe.product.muskClass(recipe.concentration).rawValue
                XCTAssertTrue(Self.oracle.breaches(amounts, category: recipe.product.category.rawValue, musk: musk).isEmpty,
                              "\(label): \(Self.oracle.breaches(amounts, category: recipe.product.category.rawValue, musk: musk))")
                let expected = Self.oracle.declared(amounts, rinseOff: recipe.product.exposure != .leaveOn)
                let got = Dictionary(uniqueKeysWithValues: report.allergens.filter { !$0.cas.isEmpty }.map { ($0.name, $0.percent) })
                XCTAssertEqual(got.keys.sorted(), expected.keys.sorted(), label)
                for (k, v) in expected { XCTAssertEqual(got[k] ?? -1, v, accuracy: max(1e-9, v * 1e-4), "\(label): \(k)") }
                XCTAssertEqual(recipe.ingredients.reduce(0) { $0 + $1.percent }, 100, accuracy: 0.001)
                XCTAssertTrue((15...40).contains(recipe.ingredients.count), "\(label): \(recipe.ingredients.count) ingredients")
                XCTAssertGreaterThanOrEqual(report.composition.aromaChemicalsPercent, 60, label)
                for i in recipe.ingredients {
                    let m = Self.palette.find(i.materialId)!
                    XCTAssertLessThanOrEqual(i.percent, 25.01, "\(label): \(m.name)")
                    if m.natural { XCTAssertLessThanOrEqual(i.percent, m.use[1] + 0.011, "\(label): \(m.name) over its typical dose") }
                }
                // The family leads: its accords' families hold the largest share of the concentrate.
                var byFamily: [String: Double] = [:]
                for a in recipe.accords { for f in Self.palette.accords[a.name]!.families { byFamily[f, default: 0] += a.percent } }
                let own = Set(Self.palette.familyAccords(family).flatMap(\.families))
                let mine = byFamily[family] ?? Self.palette.familyAccords(family).reduce(0) { t, a in t + (recipe.accords.first { $0.name == a.name }?.percent ?? 0) }
                let rival = byFamily.filter { !own.contains($0.key) }.max { $0.value < $1.value }
                XCTAssertGreaterThanOrEqual(mine, rival?.value ?? 0, "\(label): \(rival?.key ?? "-") leads: \(recipe.accords)")
                XCTAssertFalse(recipe.top.isEmpty || recipe.heart.isEmpty || recipe.base.isEmpty, label)
                let carrier = recipe.carrier.reduce(0) { $0 + $1.percent }
                XCTAssertEqual(carrier + recipe.fragrancePercent, 100, accuracy: 0.011, label)
                XCTAssertEqual(composer.compose(request, context: context), recipe, "\(label): same request, same recipe")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 48)
    }

    func testAvoidedMaterialsAreReplaced() throws {
        let context = [RetrievedPerfume(id: "x", similarity: 1, notes: ["top": ["Bergamot"], "heart": ["Rose", "Jasmine"], "base": ["Musk", "Sandalwood"]])]
        let plain = composer.compose(RecipeRequest(family: "floral", seed: 3), context: context)
        XCTAssertTrue(plain.ingredients.contains { $0.name == "Hedione (methyl dihydrojasmonate)" })
        let without = composer.compose(RecipeRequest(family: "floral", seed: 3, avoid: ["hedione", "Galaxolide (HHCB)"]), context: context)
        XCTAssertFalse(without.ingredients.contains { ["Hedione (methyl dihydrojasmonate)", "Galaxolide (HHCB)"].contains($0.name) })
        XCTAssertTrue(without.adjustments.contains { $0.material.hasPrefix("Hedione") && $0.substitute != nil }, "\(without.adjustments)")
        XCTAssertTrue(validator.validate(without).valid)
    }
}
