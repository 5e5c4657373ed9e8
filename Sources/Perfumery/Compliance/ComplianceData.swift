import Foundation
import FragranceStore

/// The regulatory facts the compliance engine applies, bundled by tools/build-catalogue from
/// public sources: IFRA 51st Amendment standards with a limit per product category, the
/// restricted constituents naturals bring (IFRA Annex I), the EU fragrance allergens to label
/// (Regulation (EU) 2023/1545) and the EU Annex III limits for nitro musks.
public struct ComplianceData: Sendable {
    /// A standard's limit in one category, in % of the finished product.
    public enum Limit: Sendable, Equatable {
        case percent(Double)
        case noRestriction
        /// The standard's notebox decides (traces from naturals, conditions): not computable here.
        case seeNotebox
    }

    public struct Standard: Sendable, Equatable {
        public var key: String
        public var name: String
        public var cas: [String]
        /// Prohibited as an ingredient; a natural may still bring traces the notebox allows.
        public var prohibited: Bool
        public var limits: [IFRACategory: Limit]
        public var isSpecificationOnly: Bool
    }

    public struct Constituent: Sendable, Equatable {
        public var name: String
        public var cas: String
        /// % of the natural.
        public var percent: Double
    }

    public struct Allergen: Sendable, Equatable {
        public var name: String
        public var cas: [String]
        public var isNaturalExtract: Bool
        /// Label above these % of the finished product.
        public var leaveOn: Double
        public var rinseOff: Double
    }

    public struct MuskLimit: Sendable, Equatable {
        public var name: String
        public var cas: [String]
        public var annexEntry: Int
        /// % of the finished product.
        public var fineFragrance: Double, eauDeToilette: Double, otherProducts: Double
    }

    public let standards: [Standard]
    public let allergens: [Allergen]
    public let musks: [MuskLimit]
    /// Folded natural name -> its restricted constituents.
    public let naturals: [String: [Constituent]]
    let standardsByCAS: [String: [Int]]

    public init(standards: [Standard], naturals: [String: [Constituent]], allergens: [Allergen], musks: [MuskLimit]) {
        self.standards = standards
        self.allergens = allergens
        self.musks = musks
        // A natural listed twice under one name (IFRA's table has one) keeps the higher level of each constituent.
        var folded: [String: [Constituent]] = [:]
        for (k, v) in naturals.sorted(by: { $0.key < $1.key }) {
            var merged = folded[Vocabulary.fold(k)] ?? []
            for c in v {
                if let i = merged.firstIndex(where: { $0.cas == c.cas }) { merged[i].percent = max(merged[i].percent, c.percent) } else { merged.append(c) }
            }
            folded[Vocabulary.fold(k)] = merged
        }
        self.naturals = folded
        var index: [String: [Int]] = [:]
        for (i, s) in standards.enumerated() { for c in Set(s.cas) { index[c, default: []].append(i) } }
        standardsByCAS = index
    }

    public func standards(cas: String) -> [Standard] { (standardsByCAS[cas] ?? []).map { standards[$0] } }

    public func constituents(ofNatural name: String) -> [Constituent]? { naturals[Vocabulary.fold(name)] }

    // MARK: - The bundled files

    public static func bundled() throws -> ComplianceData {
        func rows(_ name: String) throws -> [[String: Any]] {
            guard let url = Bundle.module.url(forResource: name, withExtension: "jsonl.zst") else {
                throw StoreError(.io, "\(name).jsonl.zst is missing from the Perfumery bundle")
            }
            return try RowReader.rows(try RowReader.bytes(of: url), format: .jsonl).map { try $0.object.get() }
        }
        let standards = try rows("ifra_standards").map(standard)
        var naturals: [String: [Constituent]] = [:]
        for o in try rows("natural_constituents") {
            guard let name = o["natural"] as? String, let list = o["constituents"] as? [[String: Any]] else { continue }
            naturals[name, default: []] += list.compactMap { c in
                guard let n = c["name"] as? String, let cas = c["cas"] as? String, let p = (c["pct"] as? NSNumber)?.doubleValue else { return nil }
                return Constituent(name: n, cas: cas, percent: p)
            }
        }
        let allergens: [Allergen] = try rows("eu_fragrance_allergens").compactMap { o in
            guard let name = o["name"] as? String, let t = o["label_above_pct"] as? [String: Any],
                  let leave = (t["leave_on"] as? NSNumber)?.doubleValue, let rinse = (t["rinse_off"] as? NSNumber)?.doubleValue else { return nil }
            return Allergen(name: name, cas: o["cas"] as? [String] ?? [], isNaturalExtract: (o["kind"] as? String) == "natural extract",
                            leaveOn: leave, rinseOff: rinse)
        }
        let musks: [MuskLimit] = try rows("eu_annex_iii_musks").compactMap { o in
            guard let name = o["name"] as? String, let m = o["max_pct_finished_product"] as? [String: Any],
                  let ff = (m["fine_fragrance"] as? NSNumber)?.doubleValue, let edt = (m["eau_de_toilette"] as? NSNumber)?.doubleValue,
                  let other = (m["other_products"] as? NSNumber)?.doubleValue else { return nil }
            return MuskLimit(name: name, cas: o["cas"] as? [String] ?? [], annexEntry: (o["annex_iii_entry"] as? Int) ?? 0,
                             fineFragrance: ff, eauDeToilette: edt, otherProducts: other)
        }
        return ComplianceData(standards: standards, naturals: naturals, allergens: allergens, musks: musks)
    }

    /// IFRA's overview writes a limit as a number, "No Restriction", "See Notebox",
    /// "0.0 (Prohibited)" or "0.0015 (5-MOP)" (a number with what it counts).
    static func limit(_ v: Any?) -> Limit? {
        if let n = v as? NSNumber { return .percent(n.doubleValue) }
        guard let s = (v as? String)?.lowercased() else { return nil }
        if s.hasPrefix("no restriction") { return .noRestriction }
        if s.contains("notebox") { return .seeNotebox }
        let number = s.prefix { $0.isNumber || $0 == "." }
        return Double(number).map { .percent($0) }
    }

    static func standard(_ o: [String: Any]) -> Standard {
        var limits: [IFRACategory: Limit] = [:]
        for (k, v) in o["limits_pct"] as? [String: Any] ?? [:] {
            guard let c = IFRACategory(rawValue: String(k.dropFirst(3))), let l = limit(v) else { continue }
            limits[c] = l
        }
        let type = o["standard_type"] as? String ?? ""
        return Standard(key: o["key"] as? String ?? "", name: o["name"] as? String ?? "", cas: o["cas"] as? [String] ?? [],
                        prohibited: (o["prohibited"] as? Bool) ?? false, limits: limits,
                        isSpecificationOnly: type == "SPECIFICATION")
    }
}
