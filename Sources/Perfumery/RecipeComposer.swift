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

    public init(family: String? = nil, mood: String? = nil, intensity: String? = nil, gender: String? = nil, season: String? = nil,
                brief: String? = nil, concentration: Recipe.Concentration? = nil, seed: UInt64? = nil) {
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
        case family = "fragrance_family", mood, intensity, gender, season, brief, concentration, seed
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
        for b in [family, mood, intensity, gender, season, brief, concentration?.rawValue].map({ $0 ?? "-" }).joined(separator: "|").utf8 {
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
    public init(id: String, similarity: Double, notes: [String: [String]]) {
        self.id = id
        self.similarity = similarity
        self.notes = notes
    }
}

/// The composer's rules (Resources/recipe_rules.json).
public struct RecipeRules: Codable, Sendable {
    public var budgets: [String: [String: Double]]
    public var concentration: [String: Recipe.Concentration]
    public var counts: [String: Int]
    public var family_boost: Double
    public var family_materials: [String: [String]]
    public var fixatives: [String]
    public var family_seeds: [String: [String]]

    enum CodingKeys: String, CodingKey {
        case budgets, concentration, counts, family_boost, family_materials, fixatives, family_seeds
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        budgets = try c.decode([String: [String: Double]].self, forKey: .budgets)
        concentration = try c.decode([String: Recipe.Concentration].self, forKey: .concentration)
        counts = try c.decode([String: Int].self, forKey: .counts)
        family_boost = try c.decode(Double.self, forKey: .family_boost)
        family_materials = try c.decode([String: [String]].self, forKey: .family_materials)
        fixatives = try c.decode([String].self, forKey: .fixatives)
        // "about" is documentation, not a family.
        var seeds: [String: [String]] = [:]
        let raw = try c.decode([String: AnyCodableStrings].self, forKey: .family_seeds)
        for (k, v) in raw { if let list = v.list { seeds[k] = list } }
        family_seeds = seeds
    }

    public static func bundled() throws -> RecipeRules {
        try JSONDecoder().decode(RecipeRules.self, from: Vocabulary.resource("recipe_rules", "json"))
    }

    /// Does this material carry the family? By its primary family (its first odour word
    /// when it has none): a material counts for one family, not for every word it evokes.
    public func material(_ m: MaterialFacts, carries family: String) -> Bool {
        guard let words = family_materials[Vocabulary.fold(family)], let own = (m.family ?? m.descriptors.first).map(Vocabulary.fold) else { return false }
        return words.contains { own == $0 || own.contains($0) }
    }

    /// The family whose materials hold the largest share of the recipe (ties go to `prefer`,
    /// then to the alphabet, so the answer is stable).
    public func dominantFamily(_ recipe: Recipe, catalog: MaterialCatalog, among families: [String], prefer: String? = nil) -> String? {
        var share: [String: Double] = [:]
        for i in recipe.ingredients {
            guard let m = catalog.find(id: i.materialId, name: i.name) else { continue }
            for f in families where material(m, carries: f) { share[f, default: 0] += i.percent }
        }
        guard let top = share.values.max() else { return nil }
        let leaders = share.filter { abs($0.value - top) < 1e-9 }.keys
        if let prefer, leaders.contains(prefer) { return prefer }
        return leaders.sorted().first
    }
}

/// A list of strings, or anything else (then ignored).
struct AnyCodableStrings: Decodable {
    var list: [String]?
    init(from decoder: Decoder) throws { list = try? decoder.singleValueContainer().decode([String].self) }
}

/// The deterministic composer (no LLM): notes of the retrieved perfumes, weighted by their
/// similarity and tier, become materials; materials of the requested family weigh more;
/// shares follow the intensity's tier budget, restricted materials are held to their IFRA
/// limit at the chosen concentration, and the base gets a fixative. Same request and seed,
/// same recipe.
public struct RecipeComposer: Sendable {
    public let rules: RecipeRules
    public let catalog: MaterialCatalog
    /// A note's usual tier (from notes.jsonl tier counts), for notes the sources list untiered.
    public let typicalTier: [String: String]
    /// The material that stands for a note, if any (name match, else whatever the caller adds).
    public let materialFor: @Sendable (String) -> MaterialFacts?

    public init(rules: RecipeRules, catalog: MaterialCatalog, typicalTier: [String: String], materialFor: @escaping @Sendable (String) -> MaterialFacts?) {
        self.rules = rules
        self.catalog = catalog
        self.typicalTier = typicalTier
        self.materialFor = materialFor
    }

    struct Candidate {
        var material: MaterialFacts
        var weight = 0.0
        var notes: [String] = []
        var perfumes: [String] = []
        var tierVotes: [String: Double] = [:]
    }

    public func compose(_ request: RecipeRequest, context: [RetrievedPerfume]) -> Recipe {
        var rng = SplitMix64(seed: request.effectiveSeed)
        let intensity = ["light", "moderate", "strong"].contains(request.intensity.map(Vocabulary.fold) ?? "") ? Vocabulary.fold(request.intensity!) : "moderate"
        let concentration = request.concentration ?? rules.concentration[intensity] ?? .edp
        let family = request.family.map(Vocabulary.fold)
        let tierWeight = ["top": 1.0, "heart": 1.0, "base": 1.0, "unspecified": 0.7]

        // Notes -> materials, weighted by similarity, with the perfumes that carry them.
        var candidates: [String: Candidate] = [:]
        func add(note: String, tier: String, weight: Double, perfume: String?) {
            guard let m = materialFor(note), !m.prohibited else { return }
            var c = candidates[m.id] ?? Candidate(material: m)
            c.weight += weight
            if !c.notes.contains(note) { c.notes.append(note) }
            if let perfume, !c.perfumes.contains(perfume), c.perfumes.count < 5 { c.perfumes.append(perfume) }
            let t = tier == "unspecified" ? (typicalTier[note] ?? "heart") : tier
            c.tierVotes[t, default: 0] += weight
            candidates[m.id] = c
        }
        for p in context {
            let s = max(p.similarity, 0.05)
            for (tier, notes) in p.notes {
                for (rank, note) in notes.enumerated() {
                    add(note: note, tier: tier, weight: s * (tierWeight[tier] ?? 0.7) / (1 + 0.15 * Double(rank)), perfume: p.id)
                }
            }
        }
        // The family's own notes, so it is present even when retrieval found little of it.
        if let family, let seeds = rules.family_seeds[family] {
            for note in seeds { add(note: note, tier: typicalTier[note] ?? "heart", weight: 0.3, perfume: nil) }
        }
        if let family {
            for (id, var c) in candidates where rules.material(c.material, carries: family) {
                c.weight *= rules.family_boost
                candidates[id] = c
            }
        }

        // Each material goes to the tier most of its notes sit in; the heaviest per tier stay.
        var byTier: [String: [Candidate]] = ["top": [], "heart": [], "base": []]
        for c in candidates.values.sorted(by: { $0.weight != $1.weight ? $0.weight > $1.weight : $0.material.id < $1.material.id }) {
            let tier = c.tierVotes.filter { $0.key != "unspecified" }.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? "heart"
            if byTier[tier]!.count < rules.counts[tier, default: 4] { byTier[tier]!.append(c) }
        }
        // The requested family also sits in the heart (the largest share in most budgets).
        if let family {
            let used = Set(byTier.values.flatMap { $0.map(\.material.id) })
            var spare = candidates.values.filter { !used.contains($0.material.id) && rules.material($0.material, carries: family) }
                .sorted { $0.weight != $1.weight ? $0.weight > $1.weight : $0.material.id < $1.material.id }
            while byTier["heart"]!.filter({ rules.material($0.material, carries: family) }).count < 2, !spare.isEmpty {
                let c = spare.removeFirst()
                if byTier["heart"]!.count >= rules.counts["heart", default: 5],
                   let weakest = byTier["heart"]!.indices.filter({ !rules.material(byTier["heart"]![$0].material, carries: family) })
                       .min(by: { byTier["heart"]![$0].weight < byTier["heart"]![$1].weight }) {
                    byTier["heart"]!.remove(at: weakest)
                }
                byTier["heart"]!.append(c)
            }
        }
        // A fixative in the base.
        let fixatives = rules.fixatives.compactMap { catalog.find(id: $0, name: nil) }.filter { !$0.prohibited }
        if !byTier["base"]!.contains(where: { rules.fixatives.contains($0.material.id) }), !fixatives.isEmpty {
            let f = fixatives[Int(rng.next() % UInt64(fixatives.count))]
            var c = Candidate(material: f, weight: (byTier["base"]!.map(\.weight).min() ?? 1) * 0.8)
            c.notes = ["fixative"]
            if byTier["base"]!.count >= rules.counts["base", default: 5] { byTier["base"]!.removeLast() }
            byTier["base"]!.append(c)
        }

        // Shares: the tier budget split by weight (seeded jitter ±10%), IFRA limits held, 0.1% steps.
        let budget = rules.budgets[intensity] ?? ["top": 20, "heart": 45, "base": 35]
        var jitter: [String: [Double]] = [:]
        for tier in ["top", "heart", "base"] { jitter[tier] = byTier[tier]!.map { _ in 0.9 + 0.2 * rng.nextUnit() } }
        func build(emphasis: Double) -> Recipe {
            var tiers: [String: [Recipe.Ingredient]] = [:]
            for tier in ["top", "heart", "base"] {
                let list = byTier[tier]!
                guard !list.isEmpty else { continue }
                let weights = zip(list, jitter[tier]!).map { c, j in
                    c.weight.squareRoot() * j * (family.map { rules.material(c.material, carries: $0) } == true ? emphasis : 1)
                }
                let shares = Self.split(budget[tier] ?? 30, weights: weights, caps: list.map { $0.material.maxPercentOfConcentrate(at: concentration) })
                    .map { ($0 * 10).rounded(.down) / 10 }
                tiers[tier] = zip(list, shares).filter { $0.1 > 0 }.map { c, pct in
                    let why = c.notes == ["fixative"] ? "fixative: holds the base"
                        : "for \(c.notes.prefix(3).joined(separator: ", ")) in \(c.perfumes.count) retrieved perfume\(c.perfumes.count == 1 ? "" : "s")"
                    return Recipe.Ingredient(materialId: c.material.id, name: c.material.name, percent: pct, notes: c.notes, perfumes: c.perfumes, why: why)
                }
            }
            var recipe = Recipe(name: Self.name(request), concentration: concentration, top: tiers["top"] ?? [], heart: tiers["heart"] ?? [],
                                base: tiers["base"] ?? [], generator: "composer", contextPerfumes: context.map(\.id), seed: request.effectiveSeed)
            topUp(&recipe)
            return recipe
        }
        // The requested family must lead: weigh its materials up until it holds the largest share.
        var emphasis = 1.0
        var recipe = build(emphasis: emphasis)
        if let family, rules.family_materials[family] != nil {
            let rivals = Array(rules.family_materials.keys)
            for _ in 0..<10 where rules.dominantFamily(recipe, catalog: catalog, among: rivals, prefer: family) != family {
                emphasis *= 1.6
                recipe = build(emphasis: emphasis)
            }
        }
        return recipe
    }

    /// Splits `total` by weight; a share over its cap is cut to it and the rest goes to the others.
    static func split(_ total: Double, weights: [Double], caps: [Double?]) -> [Double] {
        var shares = [Double](repeating: 0, count: weights.count)
        var open = Set(weights.indices)
        var left = total
        while !open.isEmpty && left > 1e-9 {
            let sum = open.reduce(0) { $0 + weights[$1] }
            var capped = false
            for i in open {
                let want = sum > 0 ? left * weights[i] / sum : left / Double(open.count)
                if let cap = caps[i], shares[i] + want > cap {
                    left -= cap - shares[i]
                    shares[i] = cap
                    open.remove(i)
                    capped = true
                }
            }
            if !capped {
                for i in open { shares[i] += sum > 0 ? left * weights[i] / sum : left / Double(open.count) }
                left = 0
            }
        }
        return shares
    }

    /// Rounding leaves the sum a little under 100: the largest unrestricted ingredient takes the rest.
    func topUp(_ r: inout Recipe) {
        let total = r.ingredients.reduce(0) { $0 + $1.percent }
        let missing = ((100 - total) * 10).rounded() / 10
        guard missing != 0 else { return }
        var best: (String, Int, Double)?
        for (tier, list) in r.tiers {
            for (i, ing) in list.enumerated() where best == nil || ing.percent > best!.2 {
                if let m = catalog.find(id: ing.materialId, name: nil), m.ifraLimit != nil || m.prohibited { continue }
                best = (tier, i, ing.percent)
            }
        }
        guard let (tier, i, _) = best else { return }
        func bump(_ list: inout [Recipe.Ingredient]) { list[i].percent = ((list[i].percent + missing) * 10).rounded() / 10 }
        switch tier {
        case "top": bump(&r.top)
        case "heart": bump(&r.heart)
        default: bump(&r.base)
        }
    }

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
