import Foundation
import FragranceStore

/// The perfumer's palette (Resources/palette.json, read at start): the materials formulas are
/// built from, the accords they are built with, the words of notes and accords that call an
/// accord, and the structure of a formula. Joins the materials catalogue, IFRA and the
/// allergen list by CAS.
public struct Palette: Sendable {
    public struct Material: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var cas: String
        public var natural: Bool
        /// top, heart or base.
        public var role: String
        public var family: String
        public var facets: [String]
        /// 1 (faint) to 5 (powerful at 0.1%).
        public var impact: Int
        /// Typical range, % of the concentrate.
        public var use: [Double]
        public var max: Double
        /// The natural's entry in the constituents data.
        public var constituents: String?

        public var typical: ClosedRange<Double> { use[0]...use[1] }
        /// Naturals stay within their typical dose; aroma chemicals may go to their max.
        public var ceiling: Double { natural ? use[1] : max }
    }

    public struct Accord: Sendable, Equatable {
        public var name: String
        public var role: String
        public var families: [String]
        public var parts: [(id: String, parts: Double)]
        public static func == (a: Accord, b: Accord) -> Bool { a.name == b.name }
    }

    public struct Structure: Codable, Sendable {
        public var budgets: [String: [String: Double]]
        public var concentration: [String: Recipe.Concentration]
        public var accords_per_tier: [String: [Int]]
        public var max_share: Double
        public var min_ingredients: Int
        public var max_ingredients: Int
        public var min_aroma_chemicals: Double
        public var base_defaults: [String]
        public var heart_defaults: [String]
        public var top_defaults: [String]
        public var seasons: [String: [String: Double]]
    }

    public let materials: [Material]
    public let accords: [String: Accord]
    /// Ordered: the first pattern that matches a phrase names its accord.
    public let words: [(pattern: [String], accord: String)]
    public let families: [String: [String]]
    public let structure: Structure
    let byId: [String: Int]
    let byCAS: [String: Int]
    let byName: [String: Int]
    /// Material id -> the accords that use it.
    let accordsOf: [String: Set<String>]

    public static func bundled() throws -> Palette {
        guard let url = Bundle.module.url(forResource: "palette", withExtension: "json") else {
            throw StoreError(.io, "palette.json is missing from the Perfumery bundle")
        }
        return try Palette(json: Data(contentsOf: url), source: "palette.json")
    }

    /// Reads and checks a palette file; a broken one is refused naming what is wrong.
    public init(json: Data, source: String = "palette") throws {
        struct File: Decodable {
            var structure: Structure
            var materials: [Material]
            var accords: [String: RawAccord]
            var words: [[String]]
            var families: [String: [String]]
        }
        struct RawAccord: Decodable {
            var role: String
            var families: [String]
            var materials: [Part]
        }
        struct Part: Decodable {
            var id: String, parts: Double
            init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                id = try c.decode(String.self)
                parts = try c.decode(Double.self)
            }
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: json) } catch {
            throw StoreError(.badRecord, "\(source): \(Self.describe(error))")
        }
        func fail(_ m: String) -> StoreError { StoreError(.badRecord, "\(source): \(m)") }
        var byId: [String: Int] = [:], byCAS: [String: Int] = [:], byName: [String: Int] = [:]
        for (i, m) in file.materials.enumerated() {
            guard byId[m.id] == nil else { throw fail("material id '\(m.id)' appears twice") }
            guard byCAS[m.cas] == nil else { throw fail("CAS \(m.cas) appears twice ('\(m.id)')") }
            guard ["top", "heart", "base"].contains(m.role) else { throw fail("'\(m.id)': role must be top, heart or base") }
            guard m.use.count == 2, m.use[0] > 0, m.use[0] <= m.use[1], m.use[1] <= m.max else {
                throw fail("'\(m.id)': use must be [low, high] with 0 < low <= high <= max")
            }
            byId[m.id] = i
            byCAS[m.cas] = i
            byName[Vocabulary.fold(m.name)] = i
        }
        var accords: [String: Accord] = [:]
        for (name, a) in file.accords {
            for p in a.materials where byId[p.id] == nil { throw fail("accord '\(name)' names unknown material '\(p.id)'") }
            guard !a.materials.isEmpty else { throw fail("accord '\(name)' has no materials") }
            accords[name] = Accord(name: name, role: a.role, families: a.families, parts: a.materials.map { ($0.id, $0.parts) })
        }
        var words: [(pattern: [String], accord: String)] = []
        for w in file.words {
            guard w.count == 2, accords[w[1]] != nil else { throw fail("words entry \(w) must be [word, accord] naming a known accord") }
            words.append((Self.split(w[0]), w[1]))
        }
        for (f, list) in file.families {
            for a in list where accords[a] == nil { throw fail("family '\(f)' names unknown accord '\(a)'") }
        }
        for a in file.structure.base_defaults + file.structure.heart_defaults + file.structure.top_defaults where accords[a] == nil {
            throw fail("structure names unknown accord '\(a)'")
        }
        materials = file.materials
        self.accords = accords
        self.words = words
        families = file.families
        structure = file.structure
        self.byId = byId
        self.byCAS = byCAS
        self.byName = byName
        var of: [String: Set<String>] = [:]
        for a in accords.values { for p in a.parts { of[p.id, default: []].insert(a.name) } }
        accordsOf = of
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let k, let c): "missing '\(k.stringValue)' at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            "\(c.debugDescription) at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: "\(error)"
        }
    }

    static func split(_ s: String) -> [String] {
        Vocabulary.fold(s).split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }

    public func material(id: String) -> Material? { byId[id].map { materials[$0] } }

    /// By palette id, CAS or name.
    public func find(_ key: String) -> Material? {
        if let i = byId[key] ?? byCAS[key] ?? byName[Vocabulary.fold(key)] { return materials[i] }
        return nil
    }

    /// The accord a note or accord name calls ("Bulgarian Rose" → rose, "sea notes" → marine):
    /// the first pattern whose words begin consecutive words of the phrase.
    public func accord(for phrase: String) -> Accord? {
        let w = Self.split(phrase)
        guard !w.isEmpty else { return nil }
        for (pattern, accord) in words where pattern.count <= w.count {
            for start in 0...(w.count - pattern.count) where zip(pattern, w[start...]).allSatisfy({ $1.hasPrefix($0) }) {
                return accords[accord]
            }
        }
        return nil
    }

    /// The accords of a request's family, leading one first (a family's own entry, else the
    /// accord its words call).
    public func familyAccords(_ family: String) -> [Accord] {
        if let list = families[Vocabulary.fold(family)] { return list.compactMap { accords[$0] } }
        return accord(for: family).map { [$0] } ?? []
    }

    public struct Substitute: Sendable, Equatable {
        public var material: Material
        /// 0…1.
        public var similarity: Double
        public var reason: String
    }

    /// Materials of similar odour: the same family, shared facets, the same role, accords in
    /// common; `allowed` filters (compliance, exclusions). Best first, stable.
    public func substitutes(for m: Material, limit: Int = 5, allowed: (Material) -> Bool = { _ in true }) -> [Substitute] {
        let own = Set(m.facets + [m.family])
        let mine = accordsOf[m.id] ?? []
        var out: [Substitute] = []
        for c in materials where c.id != m.id && allowed(c) {
            let theirs = Set(c.facets + [c.family])
            let shared = own.intersection(theirs)
            let jaccard = Double(shared.count) / Double(own.union(theirs).count)
            let common = mine.intersection(accordsOf[c.id] ?? [])
            let score = (c.family == m.family ? 0.4 : 0) + 0.35 * jaccard + (c.role == m.role ? 0.1 : 0) + (common.isEmpty ? 0 : 0.15)
            guard score >= 0.25 else { continue }
            var why: [String] = []
            if c.family == m.family { why.append("same family (\(c.family))") }
            let facets = shared.subtracting([c.family]).sorted()
            if !facets.isEmpty { why.append("shares \(facets.prefix(3).joined(separator: ", "))") }
            if c.role == m.role { why.append("also a \(c.role) note") }
            if let a = common.sorted().first { why.append("used in the \(a.replacingOccurrences(of: "_", with: " ")) accord") }
            out.append(Substitute(material: c, similarity: (score * 1000).rounded() / 1000, reason: why.joined(separator: "; ")))
        }
        out.sort { $0.similarity != $1.similarity ? $0.similarity > $1.similarity : $0.material.id < $1.material.id }
        return Array(out.prefix(limit))
    }
}
