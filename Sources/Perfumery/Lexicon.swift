import Foundation
import FragranceStore

/// The query lexicon (Resources/lexicon.json, extensible by a user file of the same shape):
/// English and Korean words for the catalogue's facts, plus the words that mark negation,
/// "only", "like <perfume>", years, and the endings Korean attaches to a word. `QueryParser`
/// reads it; nothing here is code but the indexing.
public struct Lexicon: Sendable {
    /// What a phrase can mean.
    public enum Meaning: Sendable, Hashable {
        /// A value of a filterable field (`seasons: spring`, `notes: rose`).
        case value(field: String, value: String)
        /// A word with no field that still describes a smell ("romantic"): embedded in English.
        case descriptor(String)
        case brand(String)
        /// A year range from a word ("vintage"); nil ends are open.
        case years(Int?, Int?)
    }

    /// Normalised phrase (tokens joined by one space) → meanings.
    private(set) var phrases: [String: Set<Meaning>] = [:]
    private(set) var longestPhrase = 1
    /// Extra English spellings of a note value, for `notes CONTAINS ANY (…)`.
    private(set) var noteVariants: [String: Set<String>] = [:]
    /// Values that have at least one Korean word, per field.
    private(set) var koreanCovered: [String: Set<String>] = [:]
    var stopwords: Set<String> = []
    var negationBefore: Set<String> = [], negationAfter: Set<String> = []
    var softNegationBefore: Set<String> = [], softNegationAfter: Set<String> = []
    var onlyBefore: Set<String> = [], onlyAfter: Set<String> = []
    var likeBefore: Set<String> = [], likeAfter: Set<String> = [], likeUntil: Set<String> = []
    var yearsBefore: Set<String> = [], yearsAfter: Set<String> = [], koYearsBefore: Set<String> = [], koYearsAfter: Set<String> = []
    /// Korean particles and endings, longest first.
    var koreanEndings: [String] = []
    /// Concept word → what it ranks down ("office" → heavy orientals), as its own avoid term.
    private(set) var demotions: [String: Set<Meaning>] = [:]

    public init() {}

    /// Where each marker list of the file goes.
    private static var markerKeys: [(WritableKeyPath<Lexicon, Set<String>>, String, String)] { [
        (\.negationBefore, "negation", "before"), (\.negationAfter, "negation", "after"),
        (\.softNegationBefore, "negation", "soft_before"), (\.softNegationAfter, "negation", "soft_after"),
        (\.onlyBefore, "only", "before"), (\.onlyAfter, "only", "after"),
        (\.likeBefore, "like", "before"), (\.likeAfter, "like", "after"), (\.likeUntil, "like", "until"),
        (\.yearsBefore, "years_words", "before"), (\.yearsAfter, "years_words", "after"),
        (\.koYearsBefore, "years_words", "ko_before"), (\.koYearsAfter, "years_words", "ko_after"),
    ] }

    /// The bundled lexicon, the note spelling variants of `vocabulary`, and optionally a
    /// user's file (its words are added to the bundled ones).
    public static func bundled(vocabulary: Vocabulary? = nil, extra: URL? = nil) throws -> Lexicon {
        var lexicon = Lexicon()
        try lexicon.add(json: try Vocabulary.resource("lexicon", "json"), name: "lexicon.json")
        if let vocabulary {
            for (variant, canonical) in vocabulary.noteSynonyms where lexicon.phrases[canonical] != nil || lexicon.noteVariants[canonical] != nil {
                lexicon.addPhrase(variant, .value(field: "notes", value: canonical))
                lexicon.noteVariants[canonical, default: []].insert(variant)
            }
        }
        if let extra {
            let data: Data
            do { data = try Data(contentsOf: extra) } catch { throw StoreError(.notFound, "cannot read lexicon \(extra.path)") }
            try lexicon.add(json: data, name: extra.lastPathComponent)
        }
        return lexicon
    }

    /// Adds a lexicon document: `{"fields": {field: {value: [words]}}, "descriptors": {…},
    /// "brands": {…}, "years": {word: [from, to]}, "stopwords": […], "negation": {…}, …}`.
    public mutating func add(json data: Data, name: String) throws {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw StoreError(.badRequest, "\(name) is not a JSON object")
        }
        let known: Set<String> = ["about", "fields", "descriptors", "brands", "years", "stopwords", "negation", "only", "like", "years_words", "ko_endings", "demote"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw StoreError(.badRequest, "\(name): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        func words(_ v: Any?, _ path: String) throws -> [String] {
            guard let v else { return [] }
            guard let list = v as? [String] else { throw StoreError(.badRequest, "\(name): \(path) must be a list of strings") }
            return list
        }
        func table(_ key: String) throws -> [String: Any] {
            guard let v = o[key] else { return [:] }
            guard let t = v as? [String: Any] else { throw StoreError(.badRequest, "\(name): '\(key)' must be an object") }
            return t
        }
        for (field, values) in try table("fields") {
            guard let values = values as? [String: Any] else { throw StoreError(.badRequest, "\(name): fields.\(field) must map values to word lists") }
            for (value, list) in values {
                let terms = try words(list, "fields.\(field).\(value)")
                let meaning = Meaning.value(field: field, value: value)
                addPhrase(value, meaning)
                if value.contains("-") { addPhrase(value.replacingOccurrences(of: "-", with: " "), meaning) }
                if let open = value.firstIndex(of: "(") {   // "agarwood (oud)" is also "agarwood"
                    addPhrase(String(value[..<open]), meaning)
                }
                for t in terms {
                    addPhrase(t, meaning)
                    if field == "notes", !Lexicon.isKorean(t) { noteVariants[value, default: []].insert(t.lowercased()) }
                    if Lexicon.isKorean(t) { koreanCovered[field, default: []].insert(value) }
                }
                if field == "notes" { noteVariants[value, default: []].insert(value) }
            }
        }
        for (word, list) in try table("descriptors") {
            addPhrase(word, .descriptor(word))
            for t in try words(list, "descriptors.\(word)") { addPhrase(t, .descriptor(word)) }
        }
        for (brand, list) in try table("brands") {
            addPhrase(brand, .brand(brand))
            for t in try words(list, "brands.\(brand)") { addPhrase(t, .brand(brand)) }
        }
        for (word, range) in try table("years") {
            guard let r = range as? [Any], r.count == 2 else { throw StoreError(.badRequest, "\(name): years.\(word) must be [from, to] (null for open)") }
            addPhrase(word, .years(r[0] as? Int, r[1] as? Int))
        }
        if let demote = try table("demote")["words"] {
            guard let demote = demote as? [String: Any] else { throw StoreError(.badRequest, "\(name): demote.words must map words to lists of field:value") }
            for (word, list) in demote {
                for pair in try words(list, "demote.words.\(word)") {
                    guard let colon = pair.firstIndex(of: ":"), colon != pair.startIndex, pair.index(after: colon) != pair.endIndex else {
                        throw StoreError(.badRequest, "\(name): demote.words.\(word): '\(pair)' is not field:value")
                    }
                    let key = Lexicon.normalise(word)
                    demotions[key, default: []].insert(.value(field: String(pair[..<colon]), value: String(pair[pair.index(after: colon)...])))
                    if Lexicon.isKorean(key), key.contains(" ") { demotions[key.replacingOccurrences(of: " ", with: ""), default: []].insert(.value(field: String(pair[..<colon]), value: String(pair[pair.index(after: colon)...]))) }
                }
            }
        }
        stopwords.formUnion(try words(o["stopwords"], "stopwords").map(Lexicon.normalise))
        func markers(_ key: String, _ sub: String) throws -> Set<String> {
            let t = try table(key)
            return Set(try words(t[sub], "\(key).\(sub)").map(Lexicon.normalise))
        }
        for (set, key, sub) in Lexicon.markerKeys { self[keyPath: set].formUnion(try markers(key, sub)) }
        let endings = Set(koreanEndings).union(try words(o["ko_endings"], "ko_endings"))
            .union(negationAfter).union(softNegationAfter).union(onlyAfter).union(likeAfter)
            .filter { !$0.contains(" ") && Lexicon.isKorean($0) }
        koreanEndings = endings.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        for list in [negationBefore, softNegationBefore, onlyBefore, likeBefore, likeUntil, yearsBefore, yearsAfter] {
            for m in list { longestPhrase = max(longestPhrase, m.split(separator: " ").count) }
        }
    }

    /// Adds one phrase, and for Korean phrases of several words the same without spaces.
    mutating func addPhrase(_ text: String, _ meaning: Meaning) {
        let key = Lexicon.normalise(text)
        guard !key.isEmpty else { return }
        phrases[key, default: []].insert(meaning)
        longestPhrase = max(longestPhrase, key.split(separator: " ").count)
        if Lexicon.isKorean(key), key.contains(" ") { phrases[key.replacingOccurrences(of: " ", with: ""), default: []].insert(meaning) }
    }

    public func meanings(of phrase: String) -> Set<Meaning> { phrases[phrase] ?? [] }

    /// Words for a value of a field, for tests and tools (e.g. which notes have Korean names).
    public func hasKoreanWord(field: String, value: String) -> Bool { koreanCovered[field]?.contains(value) ?? false }

    /// The note values whose English words include `note` (itself, or a spelling variant).
    public func noteValues(for note: String) -> [String] {
        meanings(of: Lexicon.normalise(note)).compactMap { if case .value("notes", let v) = $0 { v } else { nil } }.sorted()
    }

    /// A note value and its English spellings ("vanilla": vanille, vanila, …).
    public func noteWords(_ value: String) -> [String] { (noteVariants[value] ?? [value]).sorted() }

    // MARK: - Text

    /// Lower case, Latin accents folded, punctuation (but `-`, `'` and `&` inside words) as spaces.
    static func normalise(_ text: String) -> String { tokens(text).joined(separator: " ") }

    static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var word = ""
        func flush() {
            var w = word
            while let c = w.last, c == "-" || c == "'" || c == "&" { w.removeLast() }
            while let c = w.first, c == "-" || c == "'" { w.removeFirst() }
            if w.count > 5, w.hasSuffix("-free") {   // "patchouli-free": the word, then its negation
                out.append(String(w.dropLast(5)).folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil))
                out.append("free")
            } else if !w.isEmpty {
                out.append(isKorean(w) ? w : w.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil))
            }
            word = ""
        }
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber || ((ch == "-" || ch == "'" || ch == "&" || ch == "’") && !word.isEmpty) {
                word.append(ch == "’" ? "'" : ch)
            } else if ch == "," || ch == "." || ch == ";" || ch == "!" || ch == "?" || ch == "/" {
                flush()
                out.append(",")
            } else {
                flush()
            }
        }
        flush()
        return out
    }

    static func isKorean(_ s: String) -> Bool {
        s.unicodeScalars.contains { (0xAC00...0xD7A3).contains($0.value) || (0x3131...0x318E).contains($0.value) }
    }
}
