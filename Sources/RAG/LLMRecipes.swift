import Foundation
import FragranceStore
import Perfumery

/// Recipes written by an LLM from the retrieved context, held to the same validator as the
/// composer's: the reply must be JSON in the recipe's shape using only the offered materials;
/// a wrong one gets one repair round; a dead, slow or wrong backend falls back to the composer
/// (and counts against the circuit breaker, which skips the backend while open).
public struct LLMRecipes: Sendable {
    public let client: LLMClient
    public let breaker: CircuitBreaker

    public init(client: LLMClient, breaker: CircuitBreaker) {
        self.client = client
        self.breaker = breaker
    }

    /// The JSON shape asked of the model (Ollama's `format`).
    nonisolated(unsafe) static let schema: [String: Any] = [   // a constant, never mutated
        "type": "object", "required": ["name", "concentration", "top", "heart", "base"],
        "properties": [
            "name": ["type": "string"],
            "concentration": ["type": "string", "enum": ["EdC", "EdT", "EdP", "Parfum"]],
            "top": ["$ref": "#/$defs/tier"], "heart": ["$ref": "#/$defs/tier"], "base": ["$ref": "#/$defs/tier"],
        ] as [String: Any],
        "$defs": ["tier": ["type": "array", "items": ["type": "object", "required": ["material_id", "percent"],
                                                      "properties": ["material_id": ["type": "string"], "percent": ["type": "number"]]]]],
    ]

    /// The request, the retrieved perfumes, the palette (name, CAS, role, family, typical use
    /// and the most this product allows), and the composer's formula as a starting point.
    func prompt(_ request: RecipeRequest, context: [RetrievedPerfume], palette: Palette, compliance: RecipeCompliance, base: Recipe) -> [LLMClient.Message] {
        var user = "Request: \(request.queryText)"
        if let i = request.intensity { user += ", intensity \(i)" }
        user += ".\nProduct: \(base.product.name) (IFRA category \(base.product.category.rawValue)); concentration \(base.concentration.rawValue), \(Self.number(base.fragrancePercent))% concentrate in the product.\n"
        if !request.avoid.isEmpty { user += "Do not use: \(request.avoid.joined(separator: ", ")).\n" }
        user += "Perfumes like it (notes):\n"
        for p in context.prefix(8) {
            user += "- \(p.id): " + ["top", "heart", "base", "unspecified"].compactMap { t in p.notes[t].map { "\(t): \($0.prefix(5).joined(separator: ", "))" } }.joined(separator: "; ") + "\n"
        }
        user += "Palette (id | name | CAS | role | family | typical % of concentrate | max % of concentrate in this product):\n"
        for m in palette.materials {
            let legal = compliance.maxPercent(m, product: base.product, fragrancePercent: base.fragrancePercent)
            let cap = min(m.max, legal ?? .infinity)
            if cap <= 0 { continue }
            user += "\(m.id) | \(m.name) | \(m.cas) | \(m.role) | \(m.family) | \(Self.number(m.use[0]))-\(Self.number(m.use[1])) | \(Self.number(cap))\n"
        }
        user += "A composer's draft to improve on: " + base.ingredients.map { "\(palette.find($0.materialId)?.id ?? $0.materialId) \(Self.number($0.percent))" }.joined(separator: ", ") + "\n"
        user += "Write 15 to 40 ingredients, mostly aroma chemicals (60-85% by weight), naturals within their typical range. "
        user += "Answer with JSON only: {\"name\", \"concentration\", \"top\": [{\"material_id\", \"percent\"}], \"heart\": [...], \"base\": [...]}. material_id is a palette id; percents are of the concentrate and sum to 100."
        return [LLMClient.Message("system", "You are a perfumer. You write perfume formulas as JSON, using only the palette's materials, within their limits."),
                LLMClient.Message("user", user)]
    }

    static func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%.2f", x) }

    /// The recipe in a reply (code fences and chatter around the JSON are tolerated); materials
    /// by palette id, CAS or name; the product and fragrance share are the request's.
    static func parse(_ text: String, compliance: RecipeCompliance, like base: Recipe) throws -> Recipe {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end,
              let o = try? JSONSerialization.jsonObject(with: Data(text[start...end].utf8)) as? [String: Any] else {
            throw LLMClient.LLMError.malformed("no JSON object in the reply")
        }
        let c = (o["concentration"] as? String).flatMap(Recipe.Concentration.init(word:)) ?? base.concentration
        func tier(_ k: String) throws -> [Recipe.Ingredient] {
            guard let list = o[k] as? [Any] else { throw LLMClient.LLMError.malformed("'\(k)' is not a list") }
            return try list.map { item in
                guard let d = item as? [String: Any], let pct = (d["percent"] as? NSNumber)?.doubleValue else {
                    throw LLMClient.LLMError.malformed("an ingredient of '\(k)' lacks material_id or percent")
                }
                let id = d["material_id"] as? String ?? ""
                let name = d["name"] as? String
                if let m = compliance.palette.find(id) ?? name.flatMap(compliance.palette.find) {
                    return Recipe.Ingredient(materialId: m.cas, name: m.name, percent: pct, cas: m.cas, natural: m.natural)
                }
                let f = compliance.catalog?.find(id: id, name: name)
                return Recipe.Ingredient(materialId: f?.id ?? id, name: f?.name ?? (name ?? id), percent: pct)
            }
        }
        var r = Recipe(name: o["name"] as? String ?? "LLM composition", concentration: c, top: try tier("top"), heart: try tier("heart"),
                       base: try tier("base"), generator: "llm", product: base.product,
                       fragrancePercent: base.product.name == "fine_fragrance" && c != base.concentration ? c.percent : base.fragrancePercent)
        r.accords = []
        return r
    }

    /// A model's percents rarely sum to exactly 100: within 80-120 they are scaled to it
    /// (further off, the validator says so).
    static func normalise(_ r: inout Recipe) {
        let total = r.ingredients.reduce(0) { $0 + $1.percent }
        guard total > 80, total < 120, abs(total - 100) > 1e-9 else { return }
        for t in ["top", "heart", "base"] {
            r.setTier(t, r.tier(t).map { var i = $0; i.percent = i.percent * 100 / total; return i })
        }
    }
}
