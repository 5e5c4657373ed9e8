import Foundation

/// A perfume formula a perfumer could weigh out: materials with their share of the
/// concentrate, grouped top/heart/base, and the finished product's concentration.
/// schemas/recipe.schema.json is its JSON form.
public struct Recipe: Codable, Sendable, Equatable {
    public struct Ingredient: Codable, Sendable, Equatable {
        /// The materials catalogue's id (CAS number, or name:…).
        public var materialId: String
        public var name: String
        /// Percent of the concentrate (all ingredients sum to 100).
        public var percent: Double
        /// The notes of the retrieved perfumes this material stands for.
        public var notes: [String]
        /// Ids of retrieved perfumes that carry those notes.
        public var perfumes: [String]
        public var why: String?
        public var cas: String?
        /// A natural (essential oil, absolute, resinoid) rather than an aroma chemical.
        public var natural: Bool?
        /// The accord(s) it was weighed into.
        public var accord: String?
        /// Percent of the finished product.
        public var percentOfProduct: Double?

        public init(materialId: String, name: String, percent: Double, notes: [String] = [], perfumes: [String] = [], why: String? = nil,
                    cas: String? = nil, natural: Bool? = nil, accord: String? = nil) {
            self.materialId = materialId
            self.name = name
            self.percent = percent
            self.notes = notes
            self.perfumes = perfumes
            self.why = why
            self.cas = cas
            self.natural = natural
            self.accord = accord
        }

        enum CodingKeys: String, CodingKey {
            case materialId = "material_id", name, percent, notes, perfumes, why, cas, natural, accord, percentOfProduct = "percent_of_product"
        }
    }

    /// What the concentrate is diluted in: ethanol (and water) for a fine fragrance, the
    /// product's base otherwise. Percent of the finished product.
    public struct CarrierLine: Codable, Sendable, Equatable {
        public var name: String
        public var cas: String?
        public var percent: Double
    }

    public struct AccordShare: Codable, Sendable, Equatable {
        public var name: String
        public var tier: String
        /// Percent of the concentrate.
        public var percent: Double
    }

    /// What the composer changed to stay compliant (or to avoid a material), and why.
    public struct Adjustment: Codable, Sendable, Equatable {
        /// capped, substituted or removed.
        public var action: String
        public var material: String
        public var from: Double
        public var to: Double
        public var substitute: String?
        public var reason: String
    }

    public enum Concentration: String, Codable, Sendable, CaseIterable {
        case edc = "EdC", edt = "EdT", edp = "EdP", parfum = "Parfum"

        /// Percent of concentrate in the finished product (a typical value of each range).
        public var percent: Double {
            switch self {
            case .edc: 4
            case .edt: 10
            case .edp: 16
            case .parfum: 24
            }
        }

        public init?(word: String) {
            guard let c = Self.allCases.first(where: { $0.rawValue.lowercased() == Vocabulary.fold(word) }) else { return nil }
            self = c
        }
    }

    public var name: String
    public var concentration: Concentration
    public var top: [Ingredient]
    public var heart: [Ingredient]
    public var base: [Ingredient]
    /// `composer` or `llm:<model>`.
    public var generator: String
    /// The perfumes retrieved as context.
    public var contextPerfumes: [String]
    public var seed: UInt64?
    public var product: ProductType = .fineFragrance
    /// Percent of fragrance concentrate in the finished product.
    public var fragrancePercent: Double
    public var carrier: [CarrierLine] = []
    public var accords: [AccordShare] = []
    public var adjustments: [Adjustment] = []

    public init(name: String, concentration: Concentration, top: [Ingredient], heart: [Ingredient], base: [Ingredient],
                generator: String, contextPerfumes: [String] = [], seed: UInt64? = nil, product: ProductType = .fineFragrance,
                fragrancePercent: Double? = nil) {
        self.name = name
        self.concentration = concentration
        self.product = product
        self.fragrancePercent = fragrancePercent ?? product.defaultFragrancePercent(concentration)
        self.top = top
        self.heart = heart
        self.base = base
        self.generator = generator
        self.contextPerfumes = contextPerfumes
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case name, concentration, top, heart, base, generator, contextPerfumes = "context_perfumes", seed, product
        case fragrancePercent = "fragrance_percent", carrier, accords, adjustments
    }

    public var ingredients: [Ingredient] { top + heart + base }

    /// Percent of product on every ingredient, and the carrier making up the rest: a fine
    /// fragrance is the concentrate in perfumer's alcohol with a little water (none in a
    /// Parfum); other products name their base.
    public mutating func fillProduct() {
        let f = fragrancePercent
        func fill(_ list: inout [Ingredient]) { for i in list.indices { list[i].percentOfProduct = (list[i].percent * f * 100).rounded() / 10000 } }
        fill(&top); fill(&heart); fill(&base)
        let rest = ((100 - f) * 100).rounded() / 100
        if product.hydroalcoholic {
            let waters: [Concentration: Double] = [.edc: 8, .edt: 5, .edp: 2, .parfum: 0]
            let water: Double = product.name == "fine_fragrance" ? waters[concentration] ?? 0 : 0
            carrier = [CarrierLine(name: "Ethanol (perfumer's alcohol, denatured)", cas: "64-17-5", percent: rest - water)]
            if water > 0 { carrier.append(CarrierLine(name: "Water (deionised)", cas: "7732-18-5", percent: water)) }
        } else {
            carrier = [CarrierLine(name: product.carrier, cas: nil, percent: rest)]
        }
    }

    public var tiers: [(String, [Ingredient])] { [("top", top), ("heart", heart), ("base", base)] }
}

/// What the validator needs to know of a material.
public struct MaterialFacts: Sendable, Equatable {
    public var id: String
    public var name: String
    public var family: String?
    public var descriptors: [String]
    public var synonyms: [String] = []
    /// IFRA Category 4 limit, % of the finished product; nil = not restricted.
    public var ifraLimit: Double?
    public var prohibited: Bool

    public init(id: String, name: String, family: String? = nil, descriptors: [String] = [], ifraLimit: Double? = nil, prohibited: Bool = false) {
        self.id = id
        self.name = name
        self.family = family
        self.descriptors = descriptors
        self.ifraLimit = ifraLimit
        self.prohibited = prohibited
    }

    /// The most a formula may hold of this material, in % of the concentrate, at a concentration.
    public func maxPercentOfConcentrate(at c: Recipe.Concentration) -> Double? {
        if prohibited { return 0 }
        return ifraLimit.map { $0 * 100 / c.percent }
    }
}

/// Every material the validator and composer may use, by id and by folded name.
public struct MaterialCatalog: Sendable {
    public private(set) var byId: [String: MaterialFacts] = [:]
    private var byName: [String: String] = [:]

    public init(_ materials: [MaterialFacts]) {
        for m in materials {
            byId[m.id] = m
            byName[Vocabulary.fold(m.name)] = byName[Vocabulary.fold(m.name)] ?? m.id
        }
    }

    /// From normalised material rows (the bundled catalogue or a materials collection).
    public init(rows: [SourceRow]) {
        let n = MaterialNormaliser()
        var list: [MaterialFacts] = []
        for row in rows {
            guard let o = try? row.object.get(), let r = try? n.record(from: o) else { continue }
            list.append(MaterialFacts(record: r))
        }
        self.init(list)
    }

    public func find(id: String?, name: String?) -> MaterialFacts? {
        if let id, let m = byId[id] { return m }
        if let name, let id = byName[Vocabulary.fold(name)] { return byId[id] }
        return nil
    }

    public var count: Int { byId.count }
}

import FragranceStore

extension MaterialFacts {
    public init(record r: Record) {
        func string(_ k: String) -> String? { if case .string(let s)? = r.attributes[k] { s } else { nil } }
        func strings(_ k: String) -> [String] { if case .strings(let s)? = r.attributes[k] { s } else { [] } }
        var limit: Double?
        if case .float(let x)? = r.attributes["ifra_limit_pct"] { limit = x }
        self.init(id: r.id, name: string("name") ?? r.id, family: string("family"), descriptors: strings("descriptors"),
                  ifraLimit: limit, prohibited: string("ifra_status") == "prohibited")
        synonyms = strings("synonyms")
    }
}
