import FragranceCore
import Foundation
import FragranceStore

/// Why one import row was refused (the importer writes it to the rejects file with its line).
public struct RowError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Turns a perfume row (schemas/perfume.schema.json: the bundled catalogue's format, which user
/// files share) into a record of the `perfume` schema: checked, notes case-folded and merged
/// through the synonym table, missing seasons/families/intensity derived and marked so, and the
/// text to embed composed from the facts.
public struct PerfumeNormaliser: Sendable {
    public let vocabulary: Vocabulary
    /// Drop fields the schema does not know instead of refusing the row.
    public var ignoreUnknownFields: Bool

    public static let fields: Set<String> = ["id", "name", "brand", "year", "gender", "family", "olfactive_family", "accords", "notes",
                                             "seasons", "season_scores", "time_of_day", "rating", "votes", "longevity", "sillage", "intensity",
                                             "description", "vector", "sources"]
    static let tiers = ["top", "heart", "base", "unspecified"]
    static let maxText = 20_000
    /// The concentration rules as " words " C strings, in the vocabulary's order.
    private let concentrationRules: [(pattern: [CChar], level: String)]

    public init(vocabulary: Vocabulary, ignoreUnknownFields: Bool = false) {
        self.vocabulary = vocabulary
        self.ignoreUnknownFields = ignoreUnknownFields
        concentrationRules = vocabulary.derivations.intensity.concentration.filter { $0.count == 2 }
            .map { (Array(" \($0[0]) ".utf8CString), $0[1]) }
    }

    public func record(from row: [String: Any], dimension: Int? = nil) throws -> Record {
        let f = try RowFields(row, known: Self.fields, ignoreUnknown: ignoreUnknownFields)
        let (id, name) = try f.idAndName()
        var a: [String: AttributeValue] = ["name": .string(name)]
        let brand = try f.string("brand", max: 200)
        if let brand, !brand.isEmpty { a["brand"] = .string(brand) }
        let year = try f.int("year", in: 1370...2100)   // Hungary Water, 1370
        if let year { a["year"] = .int(Int64(year)) }
        let gender = try f.string("gender", max: 40).map(Self.gender)
        if let g = gender {
            guard let g else { throw RowError("'gender' must be female, male or unisex, got '\(row["gender"]!)'") }
            a["gender"] = .string(g)
        }
        if let r = try f.double("rating", in: 0...5) { a["rating"] = .float(r) }
        if let v = try f.int("votes", in: 0...Int(Int32.max)) { a["votes"] = .int(Int64(v)) }
        if let s = try f.list("sources") { a["sources"] = .strings(s) }
        if let d = try f.string("description", max: Self.maxText), !d.isEmpty { a["description"] = .string(d) }

        let accords = try f.list("accords")?.map(Vocabulary.fold) ?? []
        if !accords.isEmpty { a["accords"] = .strings(accords) }
        let notes = try self.notes(row["notes"])
        if !notes.isEmpty { a["notes"] = .tiered(notes) }

        // Family: the source's label, else the first accord's family.
        let d = vocabulary.derivations
        let label = try f.string("family", max: 100) ?? f.string("olfactive_family", max: 100)
        if let label, !label.isEmpty {
            a["family"] = .string(label)
            let folded = Vocabulary.fold(label)
            let plain = folded.utf8.allSatisfy { $0 < 0x80 } ? folded : folded.folding(options: .diacriticInsensitive, locale: nil)
            let words = plain.split(separator: " ").map(String.init)
            let families = words.filter { d.families.label_words.contains($0) }
            if !families.isEmpty { a["families"] = .strings(families) }
            a["family_origin"] = .string("observed")
        } else {
            var families: [String] = []
            for accord in accords.prefix(3) {
                if let fam = d.families.accords[accord], !families.contains(fam) { families.append(fam) }
            }
            if let first = families.first {
                a["family"] = .string(first)
                a["families"] = .strings(Array(families.prefix(2)))
                a["family_origin"] = .string("derived")
            }
        }

        // Seasons: the votes, else the accords.
        if let seasons = try f.list("seasons")?.map(Vocabulary.fold), !seasons.isEmpty {
            a["seasons"] = .strings(seasons)
            a["seasons_origin"] = .string("observed")
        } else if let scores = row["season_scores"] as? [String: Any], let voted = Self.votedSeasons(scores) {
            a["seasons"] = .strings(voted)      // votes whose top bar was day or night, not a season
            a["seasons_origin"] = .string("observed")
        } else if let derived = deriveSeasons(accords) {
            a["seasons"] = .strings(derived)
            a["seasons_origin"] = .string("derived")
        }
        if let t = try f.list("time_of_day")?.map(Vocabulary.fold), !t.isEmpty { a["time_of_day"] = .strings(t) }

        // Longevity and sillage labels, and intensity from their votes or from the name.
        let longevity = try votes(row["longevity"], "longevity", scale: d.intensity.longevity_scale)
        let sillage = try votes(row["sillage"], "sillage", scale: d.intensity.sillage_scale)
        if let l = longevity.label { a["longevity"] = .string(l) }
        if let s = sillage.label { a["sillage"] = .string(s) }
        if let given = try f.string("intensity", max: 20) {
            a["intensity"] = .string(Vocabulary.fold(given))
            a["intensity_origin"] = .string("observed")
        } else if let i = intensity(longevity: longevity, sillage: sillage, minVotes: d.intensity.min_votes) {
            a["intensity"] = .string(i)
            a["intensity_origin"] = .string("observed")
        } else if let i = concentrationIntensity(name) {
            a["intensity"] = .string(i)
            a["intensity_origin"] = .string("derived")
        } else if let i = intensity(longevity: longevity, sillage: sillage, minVotes: 1) {
            a["intensity"] = .string(i)      // a few votes beat no evidence at all
            a["intensity_origin"] = .string("observed")
        }

        a["text"] = .string(Self.compose(name: name, brand: brand, family: label ?? (a["family"].flatMap { if case .string(let s) = $0 { s } else { nil } }),
                                         gender: gender ?? nil, year: year, accords: accords, notes: notes,
                                         description: a["description"].flatMap { if case .string(let s) = $0 { s } else { nil } }))
        var record = Record(id: id, attributes: a)
        if let v = try f.floats("vector") {
            if let dimension, v.count != dimension { throw RowError("'vector' has \(v.count) numbers; the collection takes \(dimension)") }
            record.vector = v
        }
        return record
    }

    static func gender(_ s: String) -> String? { Gender(word: s)?.rawValue }

    func notes(_ value: Any?) throws -> [String: [String]] {
        guard let value, !(type(of: value) is NSNull.Type) else { return [:] }   // `is NSNull` would bridge the dictionary
        var out: [String: [String]] = [:]
        func add(_ list: Any, tier: String) throws {
            guard let items = list as? [Any] else { throw RowError("'notes.\(tier)' must be a list of names") }
            guard items.count <= 200 else { throw RowError("'notes.\(tier)' has \(items.count) notes; at most 200") }
            var seen = Set<String>()
            for item in items {
                guard let s = item as? String else { throw RowError("'notes.\(tier)' must hold only strings") }
                guard s.utf8.count <= 100 || s.count <= 100 else { throw RowError("a note in 'notes.\(tier)' is longer than 100 characters") }
                let c = vocabulary.canonicalNote(s)
                if !c.isEmpty, seen.insert(c).inserted { out[tier, default: []].append(c) }
            }
        }
        if let list = value as? [Any] {
            try add(list, tier: "unspecified")
        } else if let tiers = value as? [String: Any] {
            for (tier, list) in tiers {
                guard Self.tiers.contains(tier) else { throw RowError("unknown note tier '\(tier)' (top, heart, base, unspecified)") }
                try add(list, tier: tier)
            }
        } else {
            throw RowError("'notes' must be {\"top\": [...], \"heart\": [...], \"base\": [...]} or a list")
        }
        return out.filter { !$0.value.isEmpty }
    }

    struct Votes {
        var label: String?
        var mean: Double?     // 0...1 on the scale
        var total = 0
    }

    /// `{"label": ..., "votes": {...}}` or a bare label.
    func votes(_ value: Any?, _ name: String, scale: [String: Double]) throws -> Votes {
        guard let value, !(type(of: value) is NSNull.Type) else { return Votes() }
        if let s = value as? String {
            let l = Vocabulary.fold(s).replacingOccurrences(of: " ", with: "_")
            guard scale[l] != nil else { throw RowError("'\(name)' must be one of \(scale.keys.sorted().joined(separator: ", "))") }
            return Votes(label: l)
        }
        guard let o = value as? [String: Any] else { throw RowError("'\(name)' must be a label or {\"label\", \"votes\"}") }
        var v = Votes()
        if let l = o["label"] as? String {
            guard scale[l] != nil else { throw RowError("'\(name).label' must be one of \(scale.keys.sorted().joined(separator: ", "))") }
            v.label = l
        }
        if let counts = o["votes"] as? [String: Any] {
            var sum = 0.0, total = 0.0, damaged = false
            for (k, c) in counts {
                guard let w = scale[k], let n = c as? NSNumber, !isJSONBool(n) else { throw RowError("'\(name).votes' has a bad entry '\(k)'") }
                // Some scraped counts are negative: such a distribution is unknown, the label stays.
                if n.doubleValue < 0 { damaged = true }
                sum += w * n.doubleValue
                total += n.doubleValue   // a double: summed Ints of scraped counts can overflow
            }
            if !damaged && total > 0 {
                v.total = total < Double(Int.max / 2) ? Int(total) : Int.max / 2
                v.mean = sum / total
            }
        }
        return v
    }

    func intensity(longevity: Votes, sillage: Votes, minVotes: Int) -> String? {
        let rule = vocabulary.derivations.intensity
        let means = [longevity, sillage].filter { $0.total >= minVotes }.compactMap(\.mean)
        guard !means.isEmpty else { return nil }
        let m = means.reduce(0, +) / Double(means.count)
        return m < rule.light_below ? "light" : m < rule.strong_from ? "moderate" : "strong"
    }

    func concentrationIntensity(_ name: String) -> String? {
        let folded = Vocabulary.fold(name)
        var words: [UInt8] = [0x20]
        if folded.utf8.allSatisfy({ $0 < 0x80 }) {   // the same words, byte by byte
            for b in folded.utf8 {
                if (0x61...0x7A).contains(b) { words.append(b) } else if words.last != 0x20 { words.append(0x20) }
            }
        } else {
            let spaced = folded.map { $0.isLetter ? $0 : " " }.reduce(into: "") { $0.append($1) }
            words += spaced.split(separator: " ").joined(separator: " ").utf8
        }
        if words.last != 0x20 { words.append(0x20) }
        words.append(0)
        // strstr: the stdlib's generic `contains(_:)` on UTF-8 views instantiates type metadata
        // per call and was 11% of a catalogue import's CPU. `words` holds letters and spaces only.
        return words.withUnsafeBufferPointer { w in
            w.withMemoryRebound(to: CChar.self) { text in
                concentrationRules.first { strstr(text.baseAddress!, $0.pattern) != nil }?.level
            }
        }
    }

    /// The seasons within 70% of the best-voted one.
    static func votedSeasons(_ scores: [String: Any]) -> [String]? {
        let order = ["spring", "summer", "fall", "winter"]
        let s = order.map { ($0, (scores[$0] as? NSNumber)?.doubleValue ?? 0) }
        guard let best = s.map(\.1).max(), best > 0 else { return nil }
        return s.filter { $0.1 >= best * 0.7 }.map(\.0)
    }

    func deriveSeasons(_ accords: [String]) -> [String]? {
        let rule = vocabulary.derivations.seasons
        var score: [String: Double] = [:]
        for (rank, accord) in accords.prefix(rule.rank_weights.count).enumerated() {
            for (season, w) in rule.accords[accord] ?? [:] { score[season, default: 0] += w * rule.rank_weights[rank] }
        }
        guard let best = score.values.max(), best > 0 else { return nil }
        let order = ["spring", "summer", "fall", "winter"]
        return order.filter { (score[$0] ?? 0) >= best * rule.keep_ratio }
    }

    /// "Citrus Sun. Citrus aromatic perfume for men, 2015. Accords: citrus, fresh. Top: …"
    /// Embedding cost grows with tokens (the catalogue's first load is bound by it), so the text
    /// keeps what describes the smell: the brand is left to filters and keyword search, and at
    /// most four accords and four notes per tier (sources list the strongest first).
    static func compose(name: String, brand: String?, family: String?, gender: String?, year: Int?, accords: [String],
                        notes: [String: [String]], description: String?) -> String {
        var s = name + ". "
        var kind = (family.map { Vocabulary.fold($0) } ?? accords.prefix(2).joined(separator: " "))
        kind = kind.isEmpty ? "Perfume" : kind.prefix(1).uppercased() + kind.dropFirst() + " perfume"
        s += kind
        switch gender {
        case "female": s += " for women"
        case "male": s += " for men"
        case "unisex": s += " for women and men"
        default: break
        }
        if let year { s += ", \(year)" }
        s += "."
        if !accords.isEmpty { s += " Accords: " + accords.prefix(4).joined(separator: ", ") + "." }
        let tiered = ["top", "heart", "base"].contains { !(notes[$0] ?? []).isEmpty }
        for (tier, label) in [("top", "Top"), ("heart", "Heart"), ("base", "Base"), ("unspecified", "Notes")] {
            if tier == "unspecified" && tiered { continue }
            if let list = notes[tier], !list.isEmpty { s += " \(label): " + list.prefix(tier == "unspecified" ? 6 : 4).joined(separator: ", ") + "." }
        }
        if let description, !description.isEmpty { s += " " + description.prefix(600) }
        return s
    }
}

/// Typed reads of one row, with errors that name the field.
struct RowFields {
    let row: [String: Any]
    init(_ row: [String: Any]) { self.row = row }

    /// Refuses fields outside `known` (unless told to drop them).
    init(_ row: [String: Any], known: Set<String>, ignoreUnknown: Bool) throws {
        if !ignoreUnknown, let unknown = row.keys.sorted().first(where: { !known.contains($0) }) {
            throw RowError("unknown field '\(unknown)'")
        }
        self.row = row
    }

    /// The two fields every row needs.
    func idAndName() throws -> (id: String, name: String) {
        guard let id = try string("id", max: 256), !id.isEmpty else { throw RowError("missing 'id'") }
        guard let name = try string("name", max: 300), !name.isEmpty else { throw RowError("missing 'name'") }
        return (id, name)
    }

    func present(_ k: String) -> Any? {
        // The metatype test: `v is NSNull` would bridge a Swift value to an object first (a
        // 384-float vector into 384 NSNumbers, 8% of an import's CPU).
        guard let v = row[k], !(type(of: v) is NSNull.Type) else { return nil }
        return v
    }

    func string(_ k: String, max: Int) throws -> String? {
        guard let v = present(k) else { return nil }
        guard let s = v as? String else {   // tried first: `as? NSNumber` on a String bridges it
            if let n = v as? NSNumber, k == "id", !isJSONBool(n) { return n.stringValue }   // numeric ids in CSV-born JSON
            throw RowError("'\(k)' must be a string")
        }
        let t = trimmed(s)
        // Bytes first: counting characters walks the string.
        guard t.utf8.count <= max || t.count <= max else { throw RowError("'\(k)' is longer than \(max) characters (\(t.count))") }
        return t
    }

    func int(_ k: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = present(k) else { return nil }
        var n: Double?
        if let num = v as? NSNumber, !isJSONBool(num) { n = num.doubleValue }
        else if let s = v as? String, let d = Double(s.trimmingCharacters(in: .whitespaces)) { n = d }
        guard let n, n == n.rounded(), n.isFinite else { throw RowError("'\(k)' must be an integer, got \(describe(v))") }
        // Compared as doubles: Int(n) traps for values beyond Int's range.
        guard n >= Double(range.lowerBound), n <= Double(range.upperBound), let i = Int(exactly: n), range.contains(i) else {
            throw RowError("'\(k)' must be in \(range.lowerBound)...\(range.upperBound), got \(describe(v))")
        }
        return i
    }

    func double(_ k: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = present(k) else { return nil }
        var n: Double?
        if let num = v as? NSNumber, !isJSONBool(num) { n = num.doubleValue }
        else if let s = v as? String { n = Double(s.trimmingCharacters(in: .whitespaces)) }
        guard let n, n.isFinite else { throw RowError("'\(k)' must be a number, got \(describe(v))") }
        guard range.contains(n) else { throw RowError("'\(k)' must be in \(range.lowerBound)...\(range.upperBound), got \(n)") }
        return n
    }

    func list(_ k: String) throws -> [String]? {
        guard let v = present(k) else { return nil }
        if let s = v as? String { return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        guard let a = v as? [Any] else { throw RowError("'\(k)' must be a list of strings") }
        guard a.count <= 1000 else { throw RowError("'\(k)' has \(a.count) entries; at most 1000") }
        return try a.map {
            guard let s = $0 as? String else { throw RowError("'\(k)' must hold only strings") }
            guard s.utf8.count <= 200 || s.count <= 200 else { throw RowError("an entry of '\(k)' is longer than 200 characters") }
            return trimmed(s)
        }.filter { !$0.isEmpty }
    }

    func floats(_ k: String) throws -> [Float]? {
        guard let v = present(k) else { return nil }
        if let f = v as? [Float] { return f }   // lifted from the text by VectorScanner (finite by construction)
        guard let a = v as? [Any] else { throw RowError("'\(k)' must be an array of numbers") }
        return try a.map {
            guard let n = $0 as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else { throw RowError("'\(k)' must hold only finite numbers") }
            return n.floatValue
        }
    }

    func describe(_ v: Any) -> String {
        if let s = v as? String { return "'\(s.prefix(40))'" }
        if let n = v as? NSNumber { return isJSONBool(n) ? (n.boolValue ? "true" : "false") : n.stringValue }
        return v is [Any] ? "a list" : "an object"
    }
}

/// `trimmingCharacters(in: .whitespacesAndNewlines)`, without bridging to NSString when there
/// is nothing to trim.
func trimmed(_ s: String) -> String { s.hasNothingToTrim ? s : s.trimmingCharacters(in: .whitespacesAndNewlines) }
