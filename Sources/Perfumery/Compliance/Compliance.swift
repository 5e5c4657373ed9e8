import Foundation

/// One line of a formula as the compliance engine sees it: what it is (CAS, and for a
/// natural its restricted constituents) and how much of the concentrate it is.
public struct FormulaLine: Sendable, Equatable {
    public var name: String
    public var cas: String?
    /// % of the fragrance concentrate.
    public var percent: Double
    public var isNatural: Bool
    /// For a natural: the constituents IFRA counts (% of the natural); nil when unknown.
    public var constituents: [ComplianceData.Constituent]?

    public init(name: String, cas: String?, percent: Double, isNatural: Bool = false, constituents: [ComplianceData.Constituent]? = nil) {
        self.name = name
        self.cas = cas
        self.percent = percent
        self.isNatural = isNatural
        self.constituents = constituents
    }
}

/// Whether a formula may be sold as a given product, and what its label must say.
public struct ComplianceReport: Codable, Sendable, Equatable {
    /// Where an amount came from: an ingredient itself, or a constituent it brings.
    public struct Source: Codable, Sendable, Equatable {
        public var ingredient: String
        /// % of the finished product.
        public var percent: Double
        /// The constituent, when a natural brought it.
        public var via: String?
    }

    public struct Breach: Codable, Sendable, Equatable {
        /// PROHIBITED, IFRA_LIMIT or EU_ANNEX_III.
        public var code: String
        /// The IFRA standard's key or the Annex III entry.
        public var rule: String
        public var substance: String
        public var cas: [String]
        /// % of the finished product.
        public var limit: Double
        public var amount: Double
        public var sources: [Source]
        public var message: String
    }

    /// What the engine could not decide (a standard's notebox) or a caution.
    public struct Note: Codable, Sendable, Equatable {
        public var code: String
        public var substance: String
        public var message: String
    }

    public struct DeclaredAllergen: Codable, Sendable, Equatable {
        public var name: String
        public var cas: [String]
        /// % of the finished product.
        public var percent: Double
        public var sources: [Source]
    }

    public var product: ProductType
    public var category: IFRACategory
    /// % of fragrance concentrate in the finished product.
    public var fragrancePercent: Double
    public var compliant: Bool
    public var breaches: [Breach]
    public var notes: [Note]
    /// Every listed allergen above the label threshold, largest first.
    public var allergens: [DeclaredAllergen]
    public var labelThreshold: Double

    enum CodingKeys: String, CodingKey {
        case product, category = "ifra_category", fragrancePercent = "fragrance_percent", compliant, breaches, notes, allergens
        case labelThreshold = "label_threshold_percent"
    }
}

/// IFRA 51st Amendment limits for the product's category at the finished product's
/// concentration, counting what naturals bring; EU Annex III musk limits; the EU allergen
/// declaration. The validator, the composer and the LLM path all ask this one engine.
public struct ComplianceEngine: Sendable {
    public let data: ComplianceData
    public init(data: ComplianceData) { self.data = data }

    /// Every substance (by CAS) the lines put in the product, with where each part came from.
    func amounts(_ lines: [FormulaLine], fragrancePercent: Double) -> [String: [ComplianceReport.Source]] {
        var out: [String: [ComplianceReport.Source]] = [:]
        for l in lines where l.percent > 0 {
            let inProduct = l.percent * fragrancePercent / 100
            if let cas = l.cas { out[cas, default: []].append(.init(ingredient: l.name, percent: inProduct, via: nil)) }
            for c in l.constituents ?? [] where c.cas != l.cas {
                out[c.cas, default: []].append(.init(ingredient: l.name, percent: inProduct * c.percent / 100, via: c.name))
            }
        }
        return out
    }

    public func check(_ lines: [FormulaLine], product: ProductType, fragrancePercent: Double, concentration: Recipe.Concentration = .edp) -> ComplianceReport {
        let found = amounts(lines, fragrancePercent: fragrancePercent)
        var breaches: [ComplianceReport.Breach] = []
        var notes: [ComplianceReport.Note] = []
        func total(_ cas: [String]) -> (Double, [ComplianceReport.Source]) {
            let sources = Set(cas).sorted().flatMap { found[$0] ?? [] }
            return (sources.reduce(0) { $0 + $1.percent }, sources)
        }
        for s in data.standards where !s.isSpecificationOnly {
            let (amount, sources) = total(s.cas)
            guard amount > 0 else { continue }
            let direct = sources.filter { $0.via == nil }
            let limit = s.limits[product.category]
            if s.prohibited, !direct.isEmpty, limit != .noRestriction {
                let names = direct.map(\.ingredient).joined(separator: ", ")
                breaches.append(.init(code: "PROHIBITED", rule: s.key, substance: s.name, cas: s.cas, limit: 0, amount: Self.round(amount), sources: sources,
                                      message: "\(s.name) is prohibited by IFRA (\(s.key)); used as \(names)"))
                continue
            }
            switch limit {
            case .percent(let max)?:
                if amount > max + 1e-12 {
                    breaches.append(.init(code: "IFRA_LIMIT", rule: s.key, substance: s.name, cas: s.cas, limit: max, amount: Self.round(amount), sources: sources,
                                          message: "\(s.name): \(Self.text(amount))% of the product is over IFRA's category \(product.category.rawValue) limit of \(Self.text(max))% (\(s.key)); from \(Self.describe(sources))"))
                }
            case .seeNotebox?:
                notes.append(.init(code: "IFRA_NOTEBOX", substance: s.name,
                                   message: "\(s.name) (\(Self.text(amount))% of the product, from \(Self.describe(sources))): \(s.key)'s notebox sets the conditions; check it"))
            case .noRestriction?, nil:
                break
            }
        }
        let musk = product.muskClass(concentration)
        for m in data.musks {
            let (amount, sources) = total(m.cas)
            guard amount > 0 else { continue }
            let max = switch musk { case .fineFragrance: m.fineFragrance; case .eauDeToilette: m.eauDeToilette; case .otherProducts: m.otherProducts }
            if amount > max + 1e-12 {
                breaches.append(.init(code: "EU_ANNEX_III", rule: "EU 1223/2009 Annex III/\(m.annexEntry)", substance: m.name, cas: m.cas, limit: max,
                                      amount: Self.round(amount), sources: sources,
                                      message: "\(m.name): \(Self.text(amount))% of the product is over the EU's \(musk.rawValue.replacingOccurrences(of: "_", with: " ")) limit of \(Self.text(max))% (Annex III entry \(m.annexEntry)); from \(Self.describe(sources))"))
            }
        }
        let threshold = product.labelThreshold
        var declared: [ComplianceReport.DeclaredAllergen] = []
        for a in data.allergens {
            var (amount, sources) = total(a.cas)
            if a.cas.isEmpty {   // named by plant only (Rosa spp., Narcissus spp., Verbena absolute)
                let words = Self.plantWords(a.name)
                for l in lines where l.isNatural && l.percent > 0 {
                    let n = Vocabulary.fold(l.name)
                    if words.contains(where: { n.split(whereSeparator: { !$0.isLetter }).contains(Substring($0)) }) {
                        let p = l.percent * fragrancePercent / 100
                        sources.append(.init(ingredient: l.name, percent: p, via: nil))
                        amount += p
                    }
                }
            }
            if amount > threshold { declared.append(.init(name: a.name, cas: a.cas, percent: Self.round(amount), sources: sources)) }
        }
        declared.sort { $0.percent != $1.percent ? $0.percent > $1.percent : $0.name < $1.name }
        return ComplianceReport(product: product, category: product.category, fragrancePercent: fragrancePercent, compliant: breaches.isEmpty,
                                breaches: breaches, notes: notes, allergens: declared, labelThreshold: threshold)
    }

    static func plantWords(_ name: String) -> [String] {
        let n = Vocabulary.fold(name)
        if n.contains("rosa") { return ["rose", "rosa"] }
        if n.contains("narcissus") { return ["narcissus", "jonquil"] }
        if n.contains("verbena") { return ["verbena"] }
        return []
    }

    static func describe(_ sources: [ComplianceReport.Source]) -> String {
        sources.sorted { $0.percent > $1.percent }.prefix(4).map { s in
            s.via.map { "\(s.ingredient) (as \($0), \(text(s.percent))%)" } ?? "\(s.ingredient) (\(text(s.percent))%)"
        }.joined(separator: ", ")
    }

    /// Six significant digits, no float noise.
    static func round(_ x: Double) -> Double {
        guard x != 0, x.isFinite else { return x }
        let scale = pow(10, 5 - floor(log10(abs(x))))
        return (x * scale).rounded() / scale
    }

    static func text(_ x: Double) -> String {
        let r = round(x)
        return r == r.rounded() && abs(r) < 1e15 ? String(Int(r)) : String(format: "%.4g", r)
    }
}
