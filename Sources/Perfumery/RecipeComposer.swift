import Foundation

/// What a user asks for: the seed's structured form, a free-text brief, or both.
public struct RecipeRequest: Codable, Sendable, Equatable {
    public var family: String?
    public var mood: String?
    public var intensity: String?
    public var gender: String?
    public var season: String?
    public var brief: String?
    public var concentration: Recipe.Concentration?
    public var seed: UInt64?
    /// What the formula is for (fine fragrance unless said): sets the IFRA category and the label threshold.
    public var product: ProductType?
    /// Materials the formula must not use (palette ids, CAS numbers or names).
    public var avoid: [String] = []

    public init(family: String? = nil, mood: String? = nil, intensity: String? = nil, gender: String? = nil, season: String? = nil,
                brief: String? = nil, concentration: Recipe.Concentration? = nil, seed: UInt64? = nil, product: ProductType? = nil, avoid: [String] = []) {
        self.product = product
        self.avoid = avoid
        self.family = family
        self.mood = mood
        self.intensity = intensity
        self.gender = gender
        self.season = season
        self.brief = brief
        self.concentration = concentration
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case family = "fragrance_family", mood, intensity, gender, season, brief, concentration, seed, product, avoid
    }

    /// The text to retrieve perfumes with.
    public var queryText: String {
        if let brief, !brief.isEmpty { return brief }
        var s = [mood, family].compactMap { $0 }.joined(separator: " ")
        s += s.isEmpty ? "perfume" : " perfume"
        if let g = gender.flatMap(Gender.init(word:)), g != .unisex { s += " \(g.phrase)" }
        else if let g = gender.map(Vocabulary.fold), !g.isEmpty { s += " for \(g)" }
        if let season { s += " for \(season)" }
        return s
    }

    /// The same request always gets the same seed (FNV-1a of its fields), unless one is given.
    public var effectiveSeed: UInt64 {
        if let seed { return seed }
        var h: UInt64 = 0xcbf29ce484222325
        var fields = [family, mood, intensity, gender, season, brief, concentration?.rawValue].map { $0 ?? "-" }
        if let product, product.name != "fine_fragrance" { fields.append(product.name) }   // fine fragrance keeps the seeds it always had
        if !avoid.isEmpty { fields.append(avoid.joined(separator: ",")) }
        for b in fields.joined(separator: "|").utf8 {
            h = (h ^ UInt64(b)) &* 0x100000001b3
        }
        return h
    }
}

/// A perfume retrieved as context: how close it is to the request, and its notes by tier.
public struct RetrievedPerfume: Sendable {
    public var id: String
    public var similarity: Double
    public var notes: [String: [String]]
    /// Its main accords, strongest first.
    public var accords: [String]
    public init(id: String, similarity: Double, notes: [String: [String]], accords: [String] = []) {
        self.id = id
        self.similarity = similarity
        self.notes = notes
        self.accords = accords
    }
}

/// The deterministic composer (no LLM), on the palette. The retrieved perfumes' notes and
/// accords, the requested family, mood and season vote for palette accords; the strongest
/// fill each tier's share (the family's accords first, weighed up until the family holds the
/// largest share); each accord becomes its materials in its own proportions; naturals stay
/// within their typical dose and nothing goes over the palette's max share; then the
/// compliance engine caps or substitutes whatever the product's limits refuse. Same request
/// and seed, same recipe.
public struct RecipeComposer: Sendable {
    public let palette: Palette
    public let compliance: RecipeCompliance

    public init(palette: Palette, compliance: RecipeCompliance) {
        self.palette = palette
        self.compliance = compliance
    }

    struct Evidence {
        var score = 0.0
        var notes: [String] = []
        var perfumes: [String] = []
    }

    struct Line {
        var material: Palette.Material
        var tier: String
        var percent = 0.0
        var accords: [String] = []
    }

    /// `repair: false` skips the compliance repair (benchmarks compare with it).
    public func compose(_ request: RecipeRequest, context: [RetrievedPerfume], repair: Bool = true) -> Recipe {
        var rng = SplitMix64(seed: request.effectiveSeed)
        let st = palette.structure
        let asked = request.intensity.map(Vocabulary.fold)
        let intensity: String = ["light", "moderate", "strong"].first { $0 == asked } ?? "moderate"
        let product = request.product ?? .fineFragrance
        let concentration = request.concentration ?? st.concentration[intensity] ?? .edp
        let family = request.family.map(Vocabulary.fold)
        let avoided = Set(request.avoid.compactMap { palette.find($0)?.id })

        // Evidence for accords.
        var ev: [String: Evidence] = [:]
        func vote(_ phrase: String, _ w: Double, perfume: String?) {
            guard let a = palette.accord(for: phrase) else { return }
            var e = ev[a.name] ?? Evidence()
            e.score += w
            if !e.notes.contains(phrase), e.notes.count < 6 { e.notes.append(phrase) }
            if let perfume, !e.perfumes.contains(perfume), e.perfumes.count < 5 { e.perfumes.append(perfume) }
            ev[a.name] = e
        }
        for p in context {
            let s = max(p.similarity, 0.05)
            for (tier, notes) in p.notes.sorted(by: { $0.key < $1.key }) {
                for (r, n) in notes.enumerated() { vote(n, s * (tier == "unspecified" ? 0.7 : 1) / (1 + 0.15 * Double(r)), perfume: p.id) }
            }
            for (r, a) in p.accords.enumerated() { vote(a, s * 1.5 / (1 + 0.3 * Double(r)), perfume: p.id) }
        }
        let strongest = max(ev.values.map(\.score).max() ?? 1, 1)
        let lead = family.map { palette.familyAccords($0) }?.map(\.name) ?? []
        for (i, a) in lead.enumerated() {
            ev[a, default: Evidence()].score += strongest * Swift.max(1.2 - 0.25 * Double(i), 0.4) + 0.5
        }
        if let mood = request.mood, let a = palette.accord(for: mood) { ev[a.name, default: Evidence()].score += strongest * 0.5 + 0.3 }
        if let season = request.season.map(Vocabulary.fold), let lean = st.seasons[season] {
            for (a, f) in lean where ev[a] != nil { ev[a]!.score *= f }
        }
        let ranked = ev.filter { palette.accords[$0.key] != nil && $0.value.score > 0 }
            .sorted { $0.value.score != $1.value.score ? $0.value.score > $1.value.score : $0.key < $1.key }.map(\.key)

        // Accords per tier: the family's first, then by evidence, within each tier's quota.
        var chosen: [String: [String]] = ["top": [], "heart": [], "base": []]
        func take(_ name: String, quota: Bool = true) {
            guard let a = palette.accords[name], !chosen[a.role]!.contains(name) else { return }
            let q = st.accords_per_tier[a.role] ?? [1, 3]
            if !quota || (chosen[a.role]!.count < q[1] && chosen.values.map(\.count).reduce(0, +) < 8) { chosen[a.role]!.append(name) }
        }
        for name in lead.prefix(3) + ranked { take(name) }
        for (tier, defaults) in [("top", st.top_defaults), ("heart", st.heart_defaults), ("base", st.base_defaults)] {
            for d in defaults where chosen[tier]!.count < (st.accords_per_tier[tier]?[0] ?? 1) { take(d, quota: false) }
        }
        if !chosen["base"]!.contains(where: { palette.accords[$0]!.families.contains("musk") }) {
            if chosen["base"]!.count >= (st.accords_per_tier["base"]?[1] ?? 4), let weakest = chosen["base"]!.last(where: { !lead.contains($0) }) {
                chosen["base"]!.removeAll { $0 == weakest }
            }
            take("musk", quota: false)
        }
        var jitter: [String: Double] = [:]
        for name in palette.accords.keys.sorted() { jitter[name] = 0.85 + 0.3 * rng.nextUnit() }

        var spare = ranked.filter { name in !chosen.values.contains { $0.contains(name) } }
        var recipe = Recipe(name: Self.name(request), concentration: concentration, top: [], heart: [], base: [], generator: "composer",
                            contextPerfumes: context.map(\.id), seed: request.effectiveSeed, product: product)
        for _ in 0..<8 {
            recipe = build(chosen: chosen, lead: lead, family: family, intensity: intensity, evidence: ev, jitter: jitter, avoided: avoided, into: recipe)
            guard recipe.ingredients.count < st.min_ingredients, !spare.isEmpty else { break }
            take(spare.removeFirst(), quota: false)
        }
        if repair { recipe.adjustments += compliance.repair(&recipe, avoid: avoided) }
        Self.finish(&recipe, palette: palette)
        recipe.fillProduct()
        return recipe
    }

    /// Shares per accord (emphasis on the family's until it leads), accords into materials,
    /// dose limits; the recipe before compliance.
    func build(chosen: [String: [String]], lead: [String], family: String?, intensity: String, evidence ev: [String: Evidence],
               jitter: [String: Double], avoided: Set<String>, into base: Recipe) -> Recipe {
        let st = palette.structure
        var budget = st.budgets[intensity] ?? ["top": 18, "heart": 38, "base": 44]
        let strongest = max(ev.values.map(\.score).max() ?? 1, 1)
        let tag = family.flatMap { f in palette.accords.values.contains { $0.families.contains(f) } ? f : nil }
        var emphasis = 1.0
        var shares: [(name: String, tier: String, percent: Double)] = []
        for _ in 0..<12 {
            shares = []
            for tier in ["top", "heart", "base"] {
                let names = chosen[tier]!
                let weights = names.map { n in pow(max(ev[n]?.score ?? 0, strongest * 0.15), 0.6) * (jitter[n] ?? 1) * (lead.contains(n) ? emphasis : 1) }
                let total = weights.reduce(0, +)
                for (n, w) in zip(names, weights) where total > 0 { shares.append((n, tier, (budget[tier] ?? 30) * w / total)) }
            }
            guard !lead.isEmpty else { break }
            var byTag: [String: Double] = [:]
            for s in shares { for f in palette.accords[s.name]!.families { byTag[f, default: 0] += s.percent } }
            let leadShare = tag.map { byTag[$0] ?? 0 } ?? shares.filter { lead.contains($0.name) }.reduce(0) { $0 + $1.percent }
            let rivals = byTag.filter { $0.key != tag && !(lead.compactMap { palette.accords[$0] }.flatMap(\.families).contains($0.key)) }.values.max() ?? 0
            if leadShare >= rivals { break }
            emphasis *= 1.5
            // A top- or base-led family also moves budget to its tier (a cologne is top-heavy).
            if let leadTier = palette.accords[lead[0]]?.role {
                for t in ["top", "heart", "base"] where t != leadTier && (budget[t] ?? 0) > 15 { budget[t]! -= 2; budget[leadTier, default: 0] += 2 }
            }
        }

        // Accords into materials.
        var lines: [String: Line] = [:]
        var order: [String] = []
        var recipe = base
        recipe.adjustments = []
        recipe.accords = shares.map { Recipe.AccordShare(name: $0.name, tier: $0.tier, percent: Self.round2($0.percent)) }
        for s in shares {
            let a = palette.accords[s.name]!
            var parts: [(Palette.Material, Double)] = []
            for p in a.parts {
                guard let m = palette.material(id: p.id) else { continue }
                if avoided.contains(m.id) {
                    if let sub = palette.substitutes(for: m, limit: 1, allowed: { !avoided.contains($0.id) }).first?.material {
                        parts.append((sub, p.parts))
                        if !recipe.adjustments.contains(where: { $0.material == m.name }) {
                            recipe.adjustments.append(.init(action: "substituted", material: m.name, from: 0, to: 0, substitute: sub.name, reason: "asked to avoid \(m.name)"))
                        }
                    }
                    continue
                }
                parts.append((m, p.parts))
            }
            let total = parts.reduce(0) { $0 + $1.1 }
            for (m, p) in parts where total > 0 {
                if lines[m.id] == nil { lines[m.id] = Line(material: m, tier: m.role); order.append(m.id) }
                lines[m.id]!.percent += s.percent * p / total
                if !lines[m.id]!.accords.contains(s.name) { lines[m.id]!.accords.append(s.name) }
            }
        }
        // Doses: below half its lowest typical dose a material does nothing (dropped); over its
        // ceiling (a natural's typical dose, an aroma chemical's max, the palette's max share) the
        // excess goes to the rest in proportion.
        for id in order where lines[id]!.percent < lines[id]!.material.use[0] * 0.5 { lines[id] = nil }
        order.removeAll { lines[$0] == nil }
        func holdCeilings() {
            for _ in 0..<50 {
                for id in order {
                    let cap = min(lines[id]!.material.ceiling, st.max_share)
                    if lines[id]!.percent > cap { lines[id]!.percent = cap }
                }
                let missing = 100 - order.reduce(0) { $0 + lines[$1]!.percent }
                let open = order.filter { lines[$0]!.percent < min(lines[$0]!.material.ceiling, st.max_share) - 1e-9 }
                let room = open.reduce(0) { $0 + lines[$1]!.percent }
                guard missing > 1e-6, room > 0 else { return }
                for id in open { lines[id]!.percent += missing * lines[id]!.percent / room }
            }
        }
        holdCeilings()
        // Too many: the smallest go, the rest take their share.
        if order.count > st.max_ingredients {
            let keep = Set(order.sorted { lines[$0]!.percent != lines[$1]!.percent ? lines[$0]!.percent > lines[$1]!.percent : $0 < $1 }.prefix(st.max_ingredients))
            order.removeAll { !keep.contains($0) }
            holdCeilings()
        }
        var tiers: [String: [Recipe.Ingredient]] = ["top": [], "heart": [], "base": []]
        for id in order {
            let l = lines[id]!
            let e = l.accords.compactMap { ev[$0] }
            let notes = Array(e.flatMap(\.notes).prefix(4))
            let perfumes = Array(Set(e.flatMap(\.perfumes))).sorted().prefix(5)
            let accordNames = l.accords.map { $0.replacingOccurrences(of: "_", with: " ") }
            let why = "\(accordNames.joined(separator: ", ")) accord" + (notes.isEmpty ? "" : " (for \(notes.joined(separator: ", "))\(perfumes.isEmpty ? "" : " in \(perfumes.count) retrieved perfume\(perfumes.count == 1 ? "" : "s")"))")
            tiers[l.tier]!.append(Recipe.Ingredient(materialId: l.material.cas, name: l.material.name, percent: l.percent, notes: notes, perfumes: Array(perfumes),
                                                    why: why, cas: l.material.cas, natural: l.material.natural, accord: l.accords.joined(separator: ",")))
        }
        for t in ["top", "heart", "base"] { recipe.setTier(t, tiers[t]!.sorted { $0.percent != $1.percent ? $0.percent > $1.percent : $0.name < $1.name }) }
        return recipe
    }

    /// 0.01% steps (a perfumer weighs to 0.01 g in 100 g); the largest unrestricted material
    /// takes what rounding left over, so the concentrate sums to exactly 100.
    public static func finish(_ r: inout Recipe, palette: Palette) {
        for t in ["top", "heart", "base"] {
            r.setTier(t, r.tier(t).map { var i = $0; i.percent = round2(i.percent); return i }.filter { $0.percent > 0 }
                .sorted { $0.percent != $1.percent ? $0.percent > $1.percent : $0.name < $1.name })
        }
        let missing = round2(100 - r.ingredients.reduce(0) { $0 + $1.percent })
        guard missing != 0 else { return }
        let unrestricted: Set<String> = ["hedione", "ethylene_brassylate", "galaxolide", "phenylethyl_alcohol", "dihydromyrcenol", "linalool", "sandalore", "cedryl_acetate"]
        var best: (String, Int, Double)?, any: (String, Int, Double)?
        for t in ["top", "heart", "base"] {
            for (i, ing) in r.tier(t).enumerated() {
                if any == nil || ing.percent > any!.2 { any = (t, i, ing.percent) }
                if let m = palette.find(ing.materialId), unrestricted.contains(m.id), best == nil || ing.percent > best!.2 { best = (t, i, ing.percent) }
            }
        }
        best = best ?? any
        guard let (t, i, _) = best else { return }
        var list = r.tier(t)
        list[i].percent = round2(list[i].percent + missing)
        r.setTier(t, list)
    }

    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    static func name(_ r: RecipeRequest) -> String {
        let words = [r.season, r.mood, r.family].compactMap { $0 }.map { $0.prefix(1).uppercased() + $0.dropFirst() }
        return words.isEmpty ? "Composition" : words.joined(separator: " ")
    }
}

/// SplitMix64: small, seedable, the same on every platform.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
