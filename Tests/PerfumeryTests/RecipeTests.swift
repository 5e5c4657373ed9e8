import Embedding
import Foundation
import XCTest
@testable import FragranceStore
@testable import Perfumery
@testable import RAG

/// The composer and validator against the real materials data; retrieval against a real
/// collection of catalogue perfumes embedded with the real model.
final class RecipeTests: XCTestCase {
    static let catalog = MaterialCatalog(rows: try! BundledCatalogue.rows(.material))
    var validator: RecipeValidator { RecipeValidator(catalog: Self.catalog) }

    func ingredient(_ id: String, _ pct: Double) -> Recipe.Ingredient {
        Recipe.Ingredient(materialId: id, name: Self.catalog.byId[id]?.name ?? id, percent: pct)
    }

    func testTheValidatorChecksSumsExistenceProhibitionsAndIFRALimits() throws {
        // Bergamot oil is limited to 0.4% of a fine fragrance: 2% of an EdP concentrate (16%) is 0.32%, fine; 5% is 0.8%, not.
        let ok = Recipe(name: "t", concentration: .edp, top: [ingredient("8007-75-8", 2), ingredient("8008-31-9", 18)],
                        heart: [ingredient("8022-96-6", 3), ingredient("8007-01-0", 37)], base: [ingredient("8006-87-9", 40)], generator: "test")
        let good = validator.validate(ok)
        XCTAssertTrue(good.valid, "\(good.problems)")
        XCTAssertEqual(good.tiers["top"], 20)

        var over = ok
        over.top[0].percent = 5
        over.top[1].percent = 15
        let r = validator.validate(over)
        XCTAssertFalse(r.valid)
        XCTAssertEqual(r.problems.first?.code, "IFRA_LIMIT")
        XCTAssertTrue(r.problems.first?.message.contains("0.8% of the finished EdP is over its IFRA Category 4 limit of 0.4%") ?? false, "\(r.problems)")
        // The same 5% is fine in an EdC (4% concentrate): 0.2% of the finished product.
        over.concentration = .edc
        XCTAssertTrue(validator.validate(over).valid)

        let prohibited = try XCTUnwrap(Self.catalog.byId.values.first { $0.prohibited })
        var bad = ok
        bad.base.append(Recipe.Ingredient(materialId: prohibited.id, name: prohibited.name, percent: 1))
        bad.base.append(Recipe.Ingredient(materialId: "999-99-9", name: "Unobtainium", percent: 1))
        let codes = Set(validator.validate(bad).problems.map(\.code))
        XCTAssertEqual(codes, ["PROHIBITED", "UNKNOWN_MATERIAL", "SUM"])
        XCTAssertEqual(validator.validate(bad).score, 25)
        // Materials may be named instead of identified.
        var named = ok
        named.top[1] = Recipe.Ingredient(materialId: "", name: "mandarin OIL", percent: 18)
        XCTAssertTrue(validator.validate(named).valid)
    }

    func testComposerRecipesPassTheValidatorKeepTheFamilyAndRepeatWithTheSeed() throws {
        let vocabulary = try Vocabulary.bundled()
        let notes = NoteMaterials(catalog: Self.catalog)
        XCTAssertEqual(notes.material(for: "bergamot")?.id, "8007-75-8")
        let composer = RecipeComposer(rules: try .bundled(), catalog: Self.catalog, typicalTier: try NoteTiers.bundled(vocabulary: vocabulary),
                                      materialFor: { notes.material(for: $0) })
        // Context: real catalogue perfumes of each family, as retrieval would return them.
        let normaliser = PerfumeNormaliser(vocabulary: vocabulary)
        let perfumes = try BundledCatalogue.rows(.perfume).prefix(20_000).compactMap { try? normaliser.record(from: $0.object.get()) }
        let rules = try RecipeRules.bundled()
        var checked = 0
        for family in ["floral", "citrus", "woody", "oriental", "gourmand", "aromatic"] {
            for season in ["spring", "summer", "fall", "winter"] {
                let context = perfumes.filter {
                    if case .strings(let f)? = $0.attributes["families"], f.contains(family) { return true }
                    return false
                }.prefix(12).enumerated().compactMap { i, r -> RetrievedPerfume? in
                    guard case .tiered(let t)? = r.attributes["notes"] else { return nil }
                    return RetrievedPerfume(id: r.id, similarity: 0.8 - Double(i) * 0.02, notes: t)
                }
                for intensity in ["light", "moderate", "strong"] {
                    let request = RecipeRequest(family: family, mood: "romantic", intensity: intensity, gender: "feminine", season: season)
                    let recipe = composer.compose(request, context: context)
                    let report = validator.validate(recipe)
                    XCTAssertTrue(report.valid, "\(family)/\(season)/\(intensity): \(report.problems)")
                    XCTAssertEqual(recipe.ingredients.reduce(0) { $0 + $1.percent }, 100, accuracy: 0.001)
                    XCTAssertFalse(recipe.base.isEmpty || recipe.heart.isEmpty || recipe.top.isEmpty, "\(family)/\(season)")
                    XCTAssertEqual(rules.dominantFamily(recipe, catalog: Self.catalog, among: ["floral", "citrus", "woody", "oriental", "gourmand", "aromatic"]), family,
                                   "\(family)/\(season)/\(intensity): \(recipe.ingredients.map { "\($0.name) \($0.percent)" })")
                    XCTAssertEqual(composer.compose(request, context: context), recipe, "same request, same recipe")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 72)
    }

    func testIFRALimitsHoldAtEveryConcentration() throws {
        let notes = NoteMaterials(catalog: Self.catalog)
        let composer = RecipeComposer(rules: try .bundled(), catalog: Self.catalog, typicalTier: [:], materialFor: { notes.material(for: $0) })
        // Notes whose materials are restricted, heavily weighted, at every concentration.
        let context = [RetrievedPerfume(id: "x", similarity: 1, notes: ["top": ["bergamot", "grapefruit"], "heart": ["jasmine", "ylang-ylang"],
                                                                             "base": ["oakmoss", "coumarin"]])]
        for c in Recipe.Concentration.allCases {
            let recipe = composer.compose(RecipeRequest(family: "chypre", concentration: c, seed: 7), context: context)
            let report = validator.validate(recipe)
            XCTAssertTrue(report.valid, "\(c): \(report.problems)")
            for i in recipe.ingredients {
                if let max = Self.catalog.byId[i.materialId]?.maxPercentOfConcentrate(at: c) { XCTAssertLessThanOrEqual(i.percent, max + 1e-9, i.name) }
            }
        }
    }
}
