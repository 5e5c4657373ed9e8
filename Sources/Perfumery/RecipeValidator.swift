import Foundation

/// Checks any recipe, whoever wrote it (the composer, an LLM, a person): percentages sum to
/// 100, every material exists, nothing prohibited, each restricted material within its IFRA
/// Category 4 limit at the finished concentration, and a sane top/heart/base balance.
public struct RecipeValidator: Sendable {
    public struct Problem: Codable, Sendable, Equatable {
        public enum Severity: String, Codable, Sendable { case error, warning }
        public var severity: Severity
        public var code: String
        public var message: String
        public var material: String?
    }

    public struct Report: Codable, Sendable, Equatable {
        /// No errors (warnings allowed).
        public var valid: Bool
        /// 100 minus 25 per error and 5 per warning, at least 0.
        public var score: Int
        public var problems: [Problem]
        /// Percent of the concentrate per tier.
        public var tiers: [String: Double]
    }

    /// Sane shares of the concentrate per tier (a perfumer's rule of thumb, not a law).
    public static let tierRanges: [String: ClosedRange<Double>] = ["top": 5...40, "heart": 20...60, "base": 15...60]

    public let catalog: MaterialCatalog
    public init(catalog: MaterialCatalog) { self.catalog = catalog }

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
        var seen = Set<String>()
        for i in all {
            guard i.percent > 0, i.percent.isFinite else {
                error("PERCENT", "\(i.name): percent must be above 0, got \(i.percent)", i.materialId)
                continue
            }
            guard let m = catalog.find(id: i.materialId, name: i.name) else {
                error("UNKNOWN_MATERIAL", "\(i.name) (\(i.materialId)) is not in the materials catalogue", i.materialId)
                continue
            }
            if !seen.insert(m.id).inserted { warning("DUPLICATE", "\(m.name) appears more than once", m.id) }
            if m.prohibited {
                error("PROHIBITED", "\(m.name) is prohibited by IFRA", m.id)
            } else if let limit = m.ifraLimit {
                let finished = i.percent * recipe.concentration.percent / 100
                if finished > limit + 1e-9 {
                    error("IFRA_LIMIT", "\(m.name): \(Self.round(finished))% of the finished \(recipe.concentration.rawValue) is over its IFRA Category 4 limit of \(limit)% (at most \(Self.round(limit * 100 / recipe.concentration.percent))% of the concentrate)", m.id)
                }
            }
        }
        var shares: [String: Double] = [:]
        for (tier, list) in recipe.tiers {
            let share = list.reduce(0) { $0 + $1.percent }
            shares[tier] = Self.round(share)
            if list.isEmpty { warning("EMPTY_TIER", "no \(tier) notes") }
            else if let range = Self.tierRanges[tier], !range.contains(share) {
                warning("TIER_BALANCE", "\(tier) notes are \(Self.round(share))% of the concentrate; \(Int(range.lowerBound))-\(Int(range.upperBound))% is usual")
            }
        }
        let errors = problems.filter { $0.severity == .error }.count
        let score = max(0, 100 - 25 * errors - 5 * (problems.count - errors))
        return Report(valid: errors == 0, score: score, problems: problems, tiers: shares)
    }

    static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
