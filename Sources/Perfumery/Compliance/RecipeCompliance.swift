import Foundation

/// The compliance engine applied to recipes: reads each ingredient as a formula line (the
/// palette first, then the materials catalogue, with a natural's constituents), checks a
/// recipe for its product, says how much of a material a product allows, and repairs a
/// recipe by capping or substituting whatever breaches — for the composer and the LLM path.
public struct RecipeCompliance: Sendable {
    public let palette: Palette
    public let engine: ComplianceEngine
    public let catalog: MaterialCatalog?

    public init(palette: Palette, engine: ComplianceEngine, catalog: MaterialCatalog? = nil) {
        self.palette = palette
        self.engine = engine
        self.catalog = catalog
    }

    static func looksLikeCAS(_ s: String) -> Bool {
        let parts = s.split(separator: "-")
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    static let naturalWords = ["oil", "absolute", "extract", "resinoid", "concrete", "balsam", "tincture", "co2", "oleoresin", "butter", "gum", "essence"]

    /// The palette material an ingredient is, if any.
    public func paletteMaterial(_ i: Recipe.Ingredient) -> Palette.Material? {
        palette.find(i.materialId) ?? i.cas.flatMap(palette.find) ?? (i.name.isEmpty ? nil : palette.find(i.name))
    }

    /// What an ingredient is, for the engine; nil when neither the palette nor the catalogue knows it.
    public func line(_ i: Recipe.Ingredient) -> FormulaLine? {
        let data = engine.data
        if let m = paletteMaterial(i) {
            // A name that is a natural of its own (the same CAS can cover a bark and a leaf oil) keeps its own constituents.
            let own = i.name.isEmpty ? nil : data.constituents(ofNatural: i.name)
            return FormulaLine(name: i.name.isEmpty ? m.name : i.name, cas: m.cas, percent: i.percent, isNatural: m.natural,
                               constituents: own ?? m.constituents.flatMap(data.constituents(ofNatural:)))
        }
        guard let f = catalog?.find(id: i.materialId, name: i.name.isEmpty ? nil : i.name) else {
            return Self.looksLikeCAS(i.materialId) && catalog == nil ? FormulaLine(name: i.name, cas: i.materialId, percent: i.percent) : nil
        }
        let names = [i.name, f.name] + f.synonyms
        let constituents = names.lazy.compactMap { data.constituents(ofNatural: $0) }.first
        let folded = Vocabulary.fold(f.name)
        let natural = constituents != nil || Self.naturalWords.contains { folded.split(separator: " ").contains(Substring($0)) }
        return FormulaLine(name: i.name.isEmpty ? f.name : i.name, cas: Self.looksLikeCAS(f.id) ? f.id : nil, percent: i.percent,
                           isNatural: natural, constituents: constituents)
    }

    public func check(_ r: Recipe) -> ComplianceReport {
        engine.check(r.ingredients.compactMap(line), product: r.product, fragrancePercent: r.fragrancePercent, concentration: r.concentration)
    }

    /// The most of a material, in % of the concentrate, the product allows on its own
    /// (through its own standards and its constituents'); nil when nothing limits it, 0 when prohibited.
    public func maxPercent(_ m: Palette.Material, product: ProductType, fragrancePercent: Double) -> Double? {
        let probe = FormulaLine(name: m.name, cas: m.cas, percent: 1, isNatural: m.natural,
                                constituents: m.constituents.flatMap(engine.data.constituents(ofNatural:)))
        return maxPercent(probe, product: product, fragrancePercent: fragrancePercent)
    }

    public func maxPercent(_ probe: FormulaLine, product: ProductType, fragrancePercent: Double) -> Double? {
        var line = probe
        line.percent = 1
        let per = engine.amounts([line], fragrancePercent: fragrancePercent)   // % of product per 1% of concentrate
        var best: Double?
        for (cas, sources) in per {
            let share = sources.reduce(0) { $0 + $1.percent }
            guard share > 0 else { continue }
            for s in engine.data.standards(cas: cas) where !s.isSpecificationOnly {
                if s.prohibited, cas == probe.cas, s.limits[product.category] != .noRestriction { return 0 }
                if case .percent(let lim)? = s.limits[product.category] { best = min(best ?? .infinity, lim / share) }
            }
            for mk in engine.data.musks where mk.cas.contains(cas) {
                let lim = product.name == "fine_fragrance" ? mk.eauDeToilette : mk.otherProducts   // the stricter of the two fine-fragrance limits
                best = min(best ?? .infinity, lim / share)
            }
        }
        return best
    }

    /// Caps what breaches (to 97% of its limit, so rounding cannot tip it over), substitutes a
    /// compliant palette material of similar odour for what must go or fall below a useful dose,
    /// and gives the freed share to unrestricted materials. Returns what it changed; the recipe
    /// ends compliant unless nothing in the palette can carry the share (then the report says so).
    @discardableResult
    public func repair(_ r: inout Recipe, avoid: Set<String> = []) -> [Recipe.Adjustment] {
        var changes: [Recipe.Adjustment] = []
        let fp = r.fragrancePercent
        for _ in 0..<16 {
            let report = check(r)
            guard !report.breaches.isEmpty else { break }
            var freed: [String: Double] = [:]   // tier -> share to hand on
            for b in report.breaches {
                let culprits = Set(b.sources.filter { b.code != "PROHIBITED" || $0.via == nil }.map(\.ingredient))
                let factor = b.code == "PROHIBITED" ? 0 : b.limit * 0.97 / max(b.amount, 1e-12)
                for tier in ["top", "heart", "base"] {
                    var list = r.tier(tier)
                    for idx in list.indices where culprits.contains(list[idx].name) {
                        let old = list[idx].percent
                        var new = Self.floor2(old * factor)
                        let pm = paletteMaterial(list[idx])
                        if new < (pm?.use[0] ?? 0.01) { new = 0 }
                        guard new < old else { continue }
                        list[idx].percent = new
                        freed[tier, default: 0] += old - new
                        var change = Recipe.Adjustment(action: new == 0 ? "removed" : "capped", material: list[idx].name, from: (old * 100).rounded() / 100, to: new, reason: b.message)
                        if new < old * 0.5, let pm, let sub = substitute(for: pm, avoiding: b.cas, in: r, avoid: avoid, product: r.product, fragrancePercent: fp) {
                            let room = min(sub.ceiling, maxPercent(sub, product: r.product, fragrancePercent: fp).map { $0 * 0.95 } ?? .infinity)
                            let existing = r.ingredients.first { paletteMaterial($0)?.id == sub.id }?.percent ?? 0
                            let give = Self.floor2(min(old - new, max(0, room - existing)))
                            // A new line only while the formula has room for one (at most max_ingredients).
                            let inRecipe = r.ingredients.contains { paletteMaterial($0)?.id == sub.id } || list.contains { paletteMaterial($0)?.id == sub.id }
                            let lines = r.ingredients.count - r.tier(tier).count + list.filter { $0.percent > 0 }.count
                            if give > 0, inRecipe || lines < palette.structure.max_ingredients {
                                if let j = list.firstIndex(where: { paletteMaterial($0)?.id == sub.id }) { list[j].percent += give }
                                else {
                                    list.append(Recipe.Ingredient(materialId: sub.cas, name: sub.name, percent: give, notes: list[idx].notes, perfumes: list[idx].perfumes,
                                                                  why: "in place of \(list[idx].name) (\(b.substance) limit)", cas: sub.cas, natural: sub.natural,
                                                                  accord: list[idx].accord))
                                }
                                freed[tier, default: 0] -= give
                                change.action = "substituted"
                                change.substitute = sub.name
                            }
                        }
                        changes.append(change)
                    }
                    list.removeAll { $0.percent <= 0 }
                    r.setTier(tier, list)
                }
            }
            for (tier, amount) in freed.sorted(by: { $0.key < $1.key }) where amount > 0 { spread(amount, in: tier, of: &r) }
        }
        return changes
    }

    /// A compliant material of similar odour that brings none of the breached substances.
    func substitute(for m: Palette.Material, avoiding cas: [String], in r: Recipe, avoid: Set<String>, product: ProductType, fragrancePercent: Double) -> Palette.Material? {
        let bad = Set(cas)
        return palette.substitutes(for: m, limit: 1) { c in
            guard !avoid.contains(c.id), !bad.contains(c.cas) else { return false }
            if let k = c.constituents, let list = engine.data.constituents(ofNatural: k), list.contains(where: { bad.contains($0.cas) }) { return false }
            if let cap = maxPercent(c, product: product, fragrancePercent: fragrancePercent), cap < c.use[1] { return false }
            return true
        }.first?.material
    }

    /// Hands a share to the tier's unrestricted materials (in proportion, within their ceilings),
    /// then to any tier's.
    func spread(_ amount: Double, in tier: String, of r: inout Recipe) {
        var left = amount
        for scope in [[tier], ["top", "heart", "base"]] where left > 0.005 {
            for t in scope {
                var list = r.tier(t)
                let open = list.indices.filter { i in
                    guard let m = paletteMaterial(list[i]) else { return false }
                    return maxPercent(m, product: r.product, fragrancePercent: r.fragrancePercent) == nil && list[i].percent < min(m.ceiling, palette.structure.max_share)
                }
                let total = open.reduce(0) { $0 + list[$1].percent }
                guard total > 0 else { continue }
                var given = 0.0
                for i in open {
                    let m = paletteMaterial(list[i])!
                    let room = min(m.ceiling, palette.structure.max_share) - list[i].percent
                    let add = min(room, left * list[i].percent / total)
                    list[i].percent += add
                    given += add
                }
                left -= given
                r.setTier(t, list)
            }
        }
    }

    static func floor2(_ x: Double) -> Double { (x * 100).rounded(.down) / 100 }
}

extension Recipe {
    public func tier(_ t: String) -> [Ingredient] { t == "top" ? top : t == "heart" ? heart : base }
    public mutating func setTier(_ t: String, _ list: [Ingredient]) {
        switch t {
        case "top": top = list
        case "heart": heart = list
        default: base = list
        }
    }
}
