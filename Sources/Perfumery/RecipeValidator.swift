import Foundation

/// Checks any recipe, whoever wrote it (the composer, an LLM, a person): percentages sum to
/// 100, every material is known, and the compliance engine's verdict for the recipe's product
/// (IFRA limits of its category at its fragrance share, counting what naturals bring; EU Annex
/// III; the allergen declaration). `valid` means compliant and well formed; structure (tier
/// balance, ingredient count, aroma-chemical share, natural doses) gives warnings.
public struct RecipeValidator: Sendable {
    public struct Problem: Codable, Sendable, Equatable {
        public enum Severity: String, Codable, Sendable { case error, warning }
        public var severity: Severity
        public var code: String
        public var message: String
        public var material: String?
    }

    /// How the formula is built, by weight of the concentrate.
    public struct Composition: Codable, Sendable, Equatable {
        public var ingredients: Int
        public var aromaChemicalsPercent: Double
        public var naturalsPercent: Double
        public var unknownPercent: Double
        enum CodingKeys: String, CodingKey {
            case ingredients, aromaChemicalsPercent = "aroma_chemicals_percent", naturalsPercent = "naturals_percent", unknownPercent = "unknown_percent"
        }
    }

    public struct Report: Codable, Sendable, Equatable {
        /// No errors (warnings allowed): well formed and compliant.
        public var valid: Bool
        /// 100 minus 25 per error and 5 per warning, at least 0.
        public var score: Int
        public var problems: [Problem]
        /// Percent of the concentrate per tier.
        public var tiers: [String: Double]
        public var compliance: ComplianceReport
        /// The label: every listed allergen above the threshold, with its % of the product.
        public var allergens: [ComplianceReport.DeclaredAllergen]
        public var composition: Composition
    }

    /// Sane shares of the concentrate per tier (a perfumer's rule of thumb, not a law).
    public static let tierRanges: [String: ClosedRange<Double>] = ["top": 5...40, "heart": 20...60, "base": 15...60]

    public let compliance: RecipeCompliance
    public init(compliance: RecipeCompliance) { self.compliance = compliance }

    public func validate(_ recipe: Recipe) -> Report {
        var problems: [Problem] = []
        func error(_ code: String, _ message: String, _ material: String? = nil) {
            problems.append(Problem(severity: .error, code: code, message: message, material: material))
        }
        func warning(_ code: String, _ message: String, _ material: String? = nil) {
            problems.append(Problem(severity: .warning, code: code, message: message, material: material))
        }
        let all = recipe.ingredients
        if all.isEmpty { error("EMPTY", "the recipe has no ingredients") }
        let total = all.reduce(0) { $0 + $1.percent }
        if abs(total - 100) > 0.05 { error("SUM", "percentages sum to \(Self.round(total)), not 100") }
        if !(recipe.fragrancePercent > 0 && recipe.fragrancePercent <= 100) {
            error("FRAGRANCE_PERCENT", "fragrance_percent must be above 0 and at most 100, got \(recipe.fragrancePercent)")
        }
        var seen = Set<String>()
        var synthetic = 0.0, natural = 0.0, unknown = 0.0
        for i in all {
            guard i.percent > 0, i.percent.isFinite else {
                error("PERCENT", "\(i.name): percent must be above 0, got \(i.percent)", i.materialId)
                continue
            }
            guard let line = compliance.line(i) else {
                error("UNKNOWN_MATERIAL", "\(i.name.isEmpty ? i.materialId : i.name) (\(i.materialId)) is in neither the palette nor the materials catalogue", i.materialId)
                unknown += i.percent
                continue
            }
            if !seen.insert(line.cas ?? line.name).inserted { warning("DUPLICATE", "\(line.name) appears more than once", i.materialId) }
            if line.isNatural { natural += i.percent } else { synthetic += i.percent }
            if let m = compliance.paletteMaterial(i), m.natural, i.percent > m.use[1] * 1.5 {
                warning("NATURAL_DOSE", "\(m.name) at \(Self.round(i.percent))% is well over its typical \(m.use[0])-\(m.use[1])% of a concentrate", i.materialId)
            }
        }
        let report = compliance.check(recipe)
        for b in report.breaches { error(b.code, b.message, b.sources.first?.ingredient) }
        for n in report.notes { warning(n.code, n.message, n.substance) }
        var shares: [String: Double] = [:]
        for (tier, list) in recipe.tiers {
            let share = list.reduce(0) { $0 + $1.percent }
            shares[tier] = Self.round(share)
            if list.isEmpty { warning("EMPTY_TIER", "no \(tier) notes") }
            else if let range = Self.tierRanges[tier], !range.contains(share) {
                warning("TIER_BALANCE", "\(tier) notes are \(Self.round(share))% of the concentrate; \(Int(range.lowerBound))-\(Int(range.upperBound))% is usual")
            }
        }
        let st = compliance.palette.structure
        if !all.isEmpty, all.count < st.min_ingredients || all.count > st.max_ingredients {
            warning("INGREDIENT_COUNT", "\(all.count) ingredients; a finished formula usually has \(st.min_ingredients)-\(st.max_ingredients)")
        }
        if !all.isEmpty, synthetic < 40 {
            warning("AROMA_CHEMICALS", "aroma chemicals are \(Self.round(synthetic))% of the concentrate; a modern fine fragrance is usually 60-85%")
        }
        let errors = problems.filter { $0.severity == .error }.count
        let score = max(0, 100 - 25 * errors - 5 * (problems.count - errors))
        return Report(valid: errors == 0, score: score, problems: problems, tiers: shares, compliance: report, allergens: report.allergens,
                      composition: Composition(ingredients: all.count, aromaChemicalsPercent: Self.round(synthetic), naturalsPercent: Self.round(natural),
                                               unknownPercent: Self.round(unknown)))
    }

    static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
