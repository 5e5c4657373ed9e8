import Foundation
import FragranceStore

/// How free text was understood: terms (each a soft preference, a hard condition, or words
/// that only describe), the English text to embed, the keywords for BM25, and the perfume a
/// "like …" query starts from.
public struct ParsedQuery: Sendable, Equatable {
    public struct FieldValue: Sendable, Equatable {
        public var field: String
        public var value: String
    }

    public enum Role: String, Sendable {
        /// Ranks matching records up; records lacking the attribute stay (most records lack gender or season).
        case prefer
        /// "not too sweet", "덜 달콤한": ranks matching records down.
        case avoid
        /// "without patchouli", "패출리 없이": matching records are left out.
        case exclude
        /// "only spring", "봄에만": only matching records.
        case require
        /// Words with no field ("romantic"): embedded, not filtered.
        case describe
    }

    public struct Term: Sendable, Equatable {
        /// The words as typed (joined when several meant the same).
        public var words: [String]
        /// What they were taken to mean, e.g. "seasons: spring" or "year < 2010".
        public var name: String
        /// The field values behind `name` ("seasons" = "spring", "brand" = "Creed"); empty for years and descriptors.
        public var values: [FieldValue] = []
        public var role: Role
        /// The filter for the meaning; nil for descriptors.
        public var filter: String?
        /// The English words it adds to the embedded text (empty when it is only a filter).
        public var english: String
        public var weight: Double
    }

    public var text: String
    /// "en", "ko" or "mixed" (by letters).
    public var language: String
    public var terms: [Term] = []
    public var embedText = ""
    public var keywordText = ""
    /// The perfume named after "like" / before "같은", to search from its vector.
    public var like: String?
    public var unknownWords: [String] = []
    public var ignoredWords: [String] = []

    /// Soft conditions, for `HybridRequest.preferences`.
    public var preferences: [Preference] {
        terms.compactMap { t in
            guard let f = t.filter, t.role == .prefer || t.role == .avoid else { return nil }
            return Preference(name: t.name, filter: f, weight: t.role == .avoid ? -t.weight : t.weight)
        }
    }

    /// Hard conditions (`require`, `exclude`) as one filter, or nil.
    public var filter: String? {
        let parts = terms.compactMap { t -> String? in
            guard let f = t.filter else { return nil }
            switch t.role {
            case .require: return "(\(f))"
            case .exclude: return "NOT (\(f))"
            default: return nil
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: " AND ")
    }
}

/// Free text (English, Korean or both) → `ParsedQuery`, driven by a `Lexicon`.
public struct QueryParser: Sendable {
    public let lexicon: Lexicon
    /// Filterable fields of the collection searched; meanings on other fields are dropped.
    public var fields: Set<String>?
    /// Normalised brand phrase → brand, from the collection's values.
    private var brands: [String: String] = [:]
    private var longestBrand = 1

    /// Boost weights by field (a record matching weights w₁…wₙ scores × (1 + Σw)).
    public var weights: [String: Double] = [
        "gender": 1.0, "brand": 1.0, "seasons": 0.6, "year": 0.6, "notes": 0.5, "accords": 0.5, "families": 0.5,
        "intensity": 0.4, "time_of_day": 0.4, "longevity": 0.4, "sillage": 0.4,
    ]

    public init(lexicon: Lexicon, fields: Set<String>? = nil, brands: [String] = []) {
        self.lexicon = lexicon
        self.fields = fields
        for b in brands {
            let key = Lexicon.normalise(b)
            let tokens = key.split(separator: " ")
            // A brand spelled like a common word ("Fresh", "Rose") would turn every such word
            // into a brand: those stay words.
            guard !tokens.isEmpty, key.count >= 4, !tokens.allSatisfy({ lexicon.stopwords.contains(String($0)) || Int($0) != nil }),
                  lexicon.meanings(of: key).isEmpty, !(tokens.count == 1 && lexicon.stopwords.contains(key)) else { continue }
            self.brands[key] = b
            longestBrand = max(longestBrand, tokens.count)
        }
    }

    /// `resolvingLike: false` reads "like …" as ordinary words (when no perfume had that name).
    public func parse(_ text: String, resolvingLike: Bool = true) -> ParsedQuery {
        var q = ParsedQuery(text: text, language: QueryParser.language(text))
        let toks = Lexicon.tokens(text)
        var pending: ParsedQuery.Role?
        var group: [Int] = []           // terms joined by "or"/"and"/"나": a trailing "없이" applies to all
        var joinNext = false
        var unknownRun: [String] = []
        var i = 0

        func add(_ meanings: Set<Lexicon.Meaning>, words: String, role: ParsedQuery.Role?) -> Int? {
            guard let term = term(meanings, words: words, role: role ?? .prefer) else { return nil }
            if let j = q.terms.firstIndex(where: { $0.name == term.name && $0.role == term.role }) {
                if !q.terms[j].words.contains(words) { q.terms[j].words.append(words) }
                return j
            }
            q.terms.append(term)
            return q.terms.count - 1
        }
        func apply(_ role: ParsedQuery.Role, to indices: [Int]) {
            for j in indices where q.terms[j].role != .describe || role == .avoid || role == .exclude {
                q.terms[j].role = q.terms[j].filter == nil && (role == .require) ? .describe : role
            }
        }

        while i < toks.count {
            let t = toks[i]
            if t == "," { pending = nil; joinNext = false; unknownRun = []; i += 1; continue }
            if let (len, term) = years(toks, i) {
                if let j = appendYear(&q, term, words: toks[i..<i + len].joined(separator: " "), role: pending) { group = [j] }
                pending = nil; unknownRun = []; i += len; continue
            }
            if resolvingLike, let len = phrase(toks, i, in: lexicon.likeBefore) {
                var j = i + len, name: [String] = []
                while j < toks.count, toks[j] != ",", !lexicon.likeUntil.contains(toks[j]), name.count < 8 { name.append(toks[j]); j += 1 }
                let describesOnly = name.allSatisfy { !lexicon.meanings(of: $0).isEmpty || lexicon.stopwords.contains($0) }
                if !name.isEmpty, !describesOnly, q.like == nil {
                    q.like = name.joined(separator: " ")
                    i = j; unknownRun = []; continue
                }
                q.ignoredWords.append(toks[i..<i + len].joined(separator: " "))
                i += len; continue
            }
            if let len = phrase(toks, i, in: lexicon.softNegationBefore) { pending = .avoid; i += len; continue }
            if let len = phrase(toks, i, in: lexicon.negationBefore) { pending = .exclude; i += len; continue }
            if let len = phrase(toks, i, in: lexicon.onlyBefore) { pending = .require; i += len; continue }

            if let m = match(toks, i) {
                let role: ParsedQuery.Role? = m.ending.flatMap(endingRole) ?? pending
                let words = toks[i..<i + m.length].joined(separator: " ")
                if let j = add(m.meanings, words: words, role: role) {
                    group = joinNext ? group + [j] : [j]
                    if let e = m.ending, let r = endingRole(e) { apply(r, to: group) }
                }
                // A concept's own demotion ("office": not heavy orientals) is a separate avoid
                // term, so it subtracts instead of widening the preference's OR.
                if role == nil || role == .prefer, let down = lexicon.demotions[m.key].map(meaningsOnFields), !down.isEmpty {
                    _ = add(down, words: words, role: .avoid)
                }
                joinNext = m.ending.map { ["이나", "나", "랑", "이랑", "과", "와"].contains($0) } ?? false
                i += m.length
                // "without patchouli or oud": the negation carries across the conjunction.
                if i < toks.count, ["or", "and", "nor", "또는", "및", "혹은"].contains(toks[i]) { joinNext = true; i += 1 } else if !joinNext { pending = nil }
                unknownRun = []
                continue
            }
            if let len = phrase(toks, i, in: lexicon.negationAfter) ?? phrase(toks, i, in: lexicon.softNegationAfter) ?? phrase(toks, i, in: lexicon.onlyAfter) {
                let marker = toks[i..<i + len].joined(separator: " ")
                if let r = endingRole(marker) { apply(r, to: group) }
                i += len; continue
            }
            if lexicon.likeAfter.contains(t) {
                if !unknownRun.isEmpty, q.like == nil {
                    q.like = unknownRun.joined(separator: " ")
                    q.unknownWords.removeLast(unknownRun.count)
                }
                unknownRun = []; i += 1; continue
            }
            if lexicon.stopwords.contains(t) { q.ignoredWords.append(t); i += 1; continue }
            q.unknownWords.append(t)
            unknownRun.append(t)
            i += 1
        }
        finish(&q)
        return q
    }

    // MARK: - Matching

    private func phrase(_ toks: [String], _ i: Int, in set: Set<String>) -> Int? {
        for len in stride(from: min(lexicon.longestPhrase, toks.count - i), through: 1, by: -1) {
            if set.contains(toks[i..<i + len].joined(separator: " ")) { return len }
        }
        return nil
    }

    private struct Match { var length: Int; var meanings: Set<Lexicon.Meaning>; var ending: String?; var key = "" }

    /// The longest lexicon or brand phrase at `i`; a Korean last word may carry an ending
    /// (상큼하고 = 상큼 + 하고), an English one a plural -s.
    private func match(_ toks: [String], _ i: Int) -> Match? {
        let longest = min(max(lexicon.longestPhrase, longestBrand), toks.count - i)
        guard longest >= 1 else { return nil }
        for len in stride(from: longest, through: 1, by: -1) {
            let head = toks[i..<i + len - 1].joined(separator: " ")
            let last = toks[i + len - 1]
            var key = ""
            func lookup(_ lastWord: String) -> Set<Lexicon.Meaning>? {
                key = head.isEmpty ? lastWord : head + " " + lastWord
                var m = meaningsOnFields(lexicon.meanings(of: key))
                if let b = brands[key], m.isEmpty, fields?.contains("brand") ?? true { m.insert(.brand(b)) }
                return m.isEmpty ? nil : m
            }
            if let m = lookup(last) { return Match(length: len, meanings: m, ending: nil, key: key) }
            if Lexicon.isKorean(last) {
                for e in lexicon.koreanEndings where last.count > e.count && last.hasSuffix(e) {
                    if let m = lookup(String(last.dropLast(e.count))) { return Match(length: len, meanings: m, ending: e, key: key) }
                }
            } else if last.count > 3, last.hasSuffix("s") {
                let stems = last.hasSuffix("ies") ? [String(last.dropLast(3)) + "y"] : last.hasSuffix("es") ? [String(last.dropLast(2)), String(last.dropLast())] : [String(last.dropLast())]
                for s in stems { if let m = lookup(s) { return Match(length: len, meanings: m, ending: nil, key: key) } }
            }
        }
        return nil
    }

    private func meaningsOnFields(_ m: Set<Lexicon.Meaning>) -> Set<Lexicon.Meaning> {
        guard let fields else { return m }
        return m.filter {
            switch $0 {
            case .value(let f, _): return fields.contains(f)
            case .brand: return fields.contains("brand")
            case .years: return fields.contains("year")
            case .descriptor: return true
            }
        }
    }

    private func endingRole(_ ending: String) -> ParsedQuery.Role? {
        if lexicon.negationAfter.contains(ending) { return .exclude }
        if lexicon.softNegationAfter.contains(ending) { return .avoid }
        if lexicon.onlyAfter.contains(ending) { return .require }
        return nil
    }

    // MARK: - Terms

    private func term(_ meanings: Set<Lexicon.Meaning>, words: String, role: ParsedQuery.Role) -> ParsedQuery.Term? {
        guard !meanings.isEmpty else { return nil }
        var names: [String] = [], filters: [String] = [], english: [String] = [], weight = 0.0
        var values: [ParsedQuery.FieldValue] = []
        for m in meanings.sorted(by: { "\($0)" < "\($1)" }) {
            switch m {
            case .value(let field, let value):
                names.append("\(field): \(value)")
                values.append(.init(field: field, value: value))
                if field == "notes" {
                    filters.append("notes CONTAINS ANY (\(lexicon.noteWords(value).map(QueryParser.quote).joined(separator: ", ")))")
                } else {
                    filters.append(QueryParser.setFields.contains(field) ? "\(field) CONTAINS \(QueryParser.quote(value))" : "\(field) = \(QueryParser.quote(value))")
                }
                if QueryParser.describingFields.contains(field) {
                    let label = value.replacingOccurrences(of: "(", with: "").replacingOccurrences(of: ")", with: "")
                    if !english.contains(label) { english.append(label) }
                }
                weight = max(weight, weights[field] ?? 0.5)
            case .brand(let b):
                names.append("brand: \(b)")
                values.append(.init(field: "brand", value: b))
                filters.append("brand = \(QueryParser.quote(b))")
                weight = max(weight, weights["brand"] ?? 1)
            case .years(let from, let to):
                guard let (name, filter) = QueryParser.yearFilter(from, to) else { continue }
                names.append(name)
                filters.append(filter)
                weight = max(weight, weights["year"] ?? 0.6)
            case .descriptor(let d):
                if !english.contains(d) { english.append(d) }
            }
        }
        if filters.isEmpty {
            return ParsedQuery.Term(words: [words], name: english.joined(separator: " "), role: role == .prefer || role == .require ? .describe : role,
                                    filter: nil, english: english.joined(separator: " "), weight: 0)
        }
        let filter = filters.count == 1 ? filters[0] : filters.map { "(\($0))" }.joined(separator: " OR ")
        return ParsedQuery.Term(words: [words], name: names.joined(separator: " | "), values: values, role: role, filter: filter,
                                english: english.joined(separator: " "), weight: weight)
    }

    static let setFields: Set<String> = ["seasons", "time_of_day", "families", "accords", "notes", "sources", "synonyms", "descriptors"]
    /// Fields whose values describe the smell, so they are embedded as well as filtered.
    static let describingFields: Set<String> = ["accords", "families", "notes", "descriptors"]

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    // MARK: - Years

    private enum YearTerm { case range(Int?, Int?), before(Int, inclusive: Bool), after(Int, inclusive: Bool) }

    /// "before 2010", "since 2015", "90s", "1990s", "between 2000 and 2010", "2010년 이전",
    /// "90년대", a bare year.
    private func years(_ toks: [String], _ i: Int) -> (Int, YearTerm)? {
        if let len = phrase(toks, i, in: lexicon.yearsBefore), i + len < toks.count, let y = QueryParser.year(toks[i + len]) {
            return (len + 1, .before(y, inclusive: ["until", "up to"].contains(toks[i..<i + len].joined(separator: " "))))
        }
        if let len = phrase(toks, i, in: lexicon.yearsAfter), i + len < toks.count {
            if let y = QueryParser.year(toks[i + len]) {
                return (len + 1, .after(y, inclusive: ["since", "from"].contains(toks[i..<i + len].joined(separator: " "))))
            }
            if toks[i] == "from", let d = QueryParser.decade(toks[i + len]) { return (len + 1, .range(d.0, d.1)) }
        }
        if toks[i] == "between", i + 3 < toks.count, let a = QueryParser.year(toks[i + 1]), toks[i + 2] == "and", let b = QueryParser.year(toks[i + 3]) {
            return (4, .range(min(a, b), max(a, b)))
        }
        if let d = QueryParser.decade(toks[i]) { return (1, .range(d.0, d.1)) }
        // Korean: 2010년 이전 / 2010년이전 / 90년대 / 1990년대에
        let t = toks[i]
        if let r = t.range(of: "년"), let n = Int(t[..<r.lowerBound]) {
            var rest = String(t[r.upperBound...])
            var len = 1
            if rest.isEmpty, i + 1 < toks.count { rest = toks[i + 1]; len = 2 }
            if rest.hasPrefix("대") {
                let y = n < 100 ? (n < 30 ? 2000 + n : 1900 + n) : n
                if len == 2 { len = 1 }
                return (len, .range(y, y + 9))
            }
            let y = n < 100 ? (n < 30 ? 2000 + n : 1900 + n) : n
            let word = lexicon.koreanEndings.first { rest.hasSuffix($0) && lexicon.koYearsBefore.union(lexicon.koYearsAfter).contains(String(rest.dropLast($0.count))) }
                .map { String(rest.dropLast($0.count)) } ?? rest
            if lexicon.koYearsBefore.contains(word) { return (len, .before(y, inclusive: word == "까지")) }
            if lexicon.koYearsAfter.contains(word) { return (len, .after(y, inclusive: word == "부터")) }
            if (1370...2100).contains(y) { return (1, .range(y, y)) }
        }
        if let y = QueryParser.year(t) { return (1, .range(y, y)) }
        return nil
    }

    private func appendYear(_ q: inout ParsedQuery, _ term: YearTerm, words: String, role: ParsedQuery.Role?) -> Int? {
        guard fields?.contains("year") ?? true else { return nil }
        let (from, to): (Int?, Int?)
        switch term {
        case .range(let a, let b): (from, to) = (a, b)
        case .before(let y, let inclusive): (from, to) = (nil, inclusive ? y : y - 1)
        case .after(let y, let inclusive): (from, to) = (inclusive ? y : y + 1, nil)
        }
        guard let (name, filter) = QueryParser.yearFilter(from, to) else { return nil }
        q.terms.append(ParsedQuery.Term(words: [words], name: name, role: role ?? .prefer, filter: filter, english: "", weight: weights["year"] ?? 0.6))
        return q.terms.count - 1
    }

    static func yearFilter(_ from: Int?, _ to: Int?) -> (String, String)? {
        switch (from, to) {
        case let (a?, b?): return a == b ? ("year = \(a)", "year = \(a)") : ("year \(a)-\(b)", "year BETWEEN \(a) AND \(b)")
        case let (a?, nil): return ("year >= \(a)", "year >= \(a)")
        case let (nil, b?): return ("year <= \(b)", "year <= \(b)")
        default: return nil
        }
    }

    static func year(_ t: String) -> Int? {
        guard t.count == 4, let y = Int(t), (1370...2100).contains(y) else { return nil }
        return y
    }

    /// "90s", "'90s", "1990s", "80's" → the decade's first and last year.
    static func decade(_ t: String) -> (Int, Int)? {
        var s = t
        if s.hasPrefix("'") { s.removeFirst() }
        if s.hasSuffix("'s") { s.removeLast(2) } else if s.hasSuffix("s") { s.removeLast() } else { return nil }
        guard let n = Int(s), n % 10 == 0 else { return nil }
        let y = s.count == 2 ? (n < 30 ? 2000 + n : 1900 + n) : n
        guard s.count == 2 || s.count == 4, (1370...2100).contains(y) else { return nil }
        return (y, y + 9)
    }

    // MARK: - Output

    private func finish(_ q: inout ParsedQuery) {
        let active = q.terms.filter { $0.role == .prefer || $0.role == .require || $0.role == .describe }
        var embed = active.map(\.english).filter { !$0.isEmpty }
        let latinUnknown = q.unknownWords.filter { !Lexicon.isKorean($0) && Int($0) == nil }
        // Unknown Korean words are not embedded: the model is English, and Hangul it cannot
        // read only moves the vector away from what the understood words asked for.
        embed += latinUnknown
        if embed.isEmpty {
            embed = active.map { $0.english.isEmpty ? $0.name.replacingOccurrences(of: "_", with: " ") : $0.english } + ["perfume"]
        }
        q.embedText = embed.joined(separator: " ")
        // BM25 gets what the lexicon did not turn into preferences: brands and unknown words
        // (perfume names, rare materials). Words already read as preferences would only be
        // counted twice, and unfiltered (Benchmarks/README.md, search quality).
        let brands = active.flatMap(\.values).filter { $0.field == "brand" }.map(\.value)
        q.keywordText = (brands + latinUnknown).joined(separator: " ")
    }

    static func language(_ text: String) -> String {
        var ko = 0, latin = 0
        for s in text.unicodeScalars {
            if (0xAC00...0xD7A3).contains(s.value) { ko += 1 } else if s.isASCII && s.properties.isAlphabetic { latin += 1 }
        }
        if ko > 0 && latin > 2 { return "mixed" }
        return ko > 0 ? "ko" : "en"
    }
}
