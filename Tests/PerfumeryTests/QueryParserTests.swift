import Foundation
import XCTest
@testable import FragranceStore
@testable import Perfumery

/// Query understanding over the bundled lexicon, in English, Korean and both.
final class QueryParserTests: XCTestCase {
    static let vocabulary = try! Vocabulary.bundled()
    static let lexicon = try! Lexicon.bundled(vocabulary: vocabulary)
    let parser = QueryParser(lexicon: lexicon, fields: Set(CollectionSchema.perfume.fields.map(\.name)),
                             brands: ["Creed", "Chanel", "Maison Francis Kurkdjian", "Fresh", "Zara"])

    func term(_ q: ParsedQuery, _ meaning: String) -> ParsedQuery.Term? {
        q.terms.first { $0.name.components(separatedBy: " | ").contains(meaning) || $0.name == meaning }
    }

    func testTheSeedsKoreanQueryAndItsEnglishTwin() {
        let ko = parser.parse("상큼하고 로맨틱한 봄 향수")
        XCTAssertEqual(ko.language, "ko")
        XCTAssertEqual(term(ko, "seasons: spring")?.role, .prefer)
        XCTAssertEqual(term(ko, "seasons: spring")?.filter, "seasons CONTAINS 'spring'")
        XCTAssertEqual(term(ko, "accords: fresh")?.role, .prefer)
        XCTAssertEqual(term(ko, "romantic")?.role, .describe)
        XCTAssertTrue(ko.embedText.contains("fresh") && ko.embedText.contains("romantic"), ko.embedText)
        XCTAssertFalse(Lexicon.isKorean(ko.embedText), "Korean is mapped to English before embedding: \(ko.embedText)")
        XCTAssertTrue(ko.ignoredWords.contains("향수"))
        XCTAssertNil(ko.filter, "free text only prefers")

        let en = parser.parse("a fresh, romantic spring perfume")
        XCTAssertEqual(en.language, "en")
        let meanings = { (q: ParsedQuery) in Set(q.preferences.flatMap { $0.name.components(separatedBy: " | ") }) }
        XCTAssertTrue(meanings(en).isSubset(of: meanings(ko)), "\(en.preferences) vs \(ko.preferences)")
        XCTAssertTrue(en.embedText.contains("fresh") && en.embedText.contains("romantic"))
    }

    func testFreeTextPrefersAndNeverHides() {
        let q = parser.parse("woody perfume for men")
        XCTAssertEqual(term(q, "gender: male")?.role, .prefer)
        XCTAssertEqual(term(q, "gender: male")?.weight, 1.0)
        XCTAssertNil(q.filter)
        XCTAssertEqual(q.preferences.count, 2)
        // "only" makes it a filter.
        let only = parser.parse("only spring florals")
        XCTAssertEqual(term(only, "seasons: spring")?.role, .require)
        XCTAssertEqual(only.filter, "(seasons CONTAINS 'spring')")
        XCTAssertEqual(term(only, "families: floral")?.role, .prefer, "plural florals is floral; only the next word is required")
        XCTAssertEqual(parser.parse("봄에만 뿌릴 향수").filter, "(seasons CONTAINS 'spring')")
    }

    func testNegationInBothLanguages() {
        let q = parser.parse("woody perfume without patchouli or oud")
        XCTAssertEqual(term(q, "notes: patchouli")?.role, .exclude)
        XCTAssertEqual(term(q, "notes: agarwood (oud)")?.role, .exclude, "the negation carries across 'or'")
        XCTAssertEqual(term(q, "accords: woody")?.role, .prefer)
        XCTAssertTrue(q.filter?.contains("NOT (") ?? false, q.filter ?? "")
        XCTAssertFalse(q.embedText.contains("patchouli"), "excluded words are not embedded: \(q.embedText)")

        let soft = parser.parse("not too sweet vanilla")
        XCTAssertEqual(term(soft, "accords: sweet")?.role, .avoid)
        XCTAssertEqual(soft.preferences.first { $0.name.contains("accords: sweet") }?.weight, -0.5)
        XCTAssertEqual(term(soft, "notes: vanilla")?.role, .prefer)
        XCTAssertNil(soft.filter, "'not too' demotes; it does not exclude")

        let ko = parser.parse("패출리 없이 우디한 향수")
        XCTAssertEqual(term(ko, "notes: patchouli")?.role, .exclude)
        XCTAssertEqual(term(ko, "accords: woody")?.role, .prefer)
        XCTAssertEqual(term(parser.parse("패출리없는 향수"), "notes: patchouli")?.role, .exclude, "ending attached")
        XCTAssertEqual(term(parser.parse("너무 달지 않은 바닐라 향수"), "accords: sweet")?.role, .avoid)
        XCTAssertEqual(term(parser.parse("patchouli-free amber"), "notes: patchouli")?.role, .exclude)
    }

    func testYearsAndDecades() {
        func yearTerm(_ text: String) -> String? { parser.parse(text).terms.first { $0.name.hasPrefix("year") }?.filter }
        XCTAssertEqual(yearTerm("floral before 2010"), "year <= 2009")
        XCTAssertEqual(yearTerm("citrus since 2015"), "year >= 2015")
        XCTAssertEqual(yearTerm("after 2015"), "year >= 2016")
        XCTAssertEqual(yearTerm("chypre from the 90s"), "year BETWEEN 1990 AND 1999")
        XCTAssertEqual(yearTerm("1980s powdery"), "year BETWEEN 1980 AND 1989")
        XCTAssertEqual(yearTerm("between 2000 and 2005"), "year BETWEEN 2000 AND 2005")
        XCTAssertEqual(yearTerm("2010년 이전 남자 향수"), "year <= 2009")
        XCTAssertEqual(yearTerm("2015년부터 나온 향수"), "year >= 2015")
        XCTAssertEqual(yearTerm("90년대 향수"), "year BETWEEN 1990 AND 1999")
        XCTAssertEqual(yearTerm("vintage leather"), "year <= 1989")
        XCTAssertEqual(term(parser.parse("2010년 이전 남자 향수"), "gender: male")?.role, .prefer)
    }

    func testLikeAPerfume() {
        let q = parser.parse("like Aventus but sweeter and for summer")
        XCTAssertEqual(q.like, "aventus")
        XCTAssertEqual(term(q, "seasons: summer")?.role, .prefer)
        XCTAssertEqual(parser.parse("Aventus 같은 향수").like, "aventus")
        let sweeter = parser.parse("like Chanel No 5 but sweeter and lighter")
        XCTAssertEqual(sweeter.like, "chanel no 5")
        XCTAssertEqual(term(sweeter, "accords: sweet")?.role, .prefer, "comparatives are the lexicon's words too")
        XCTAssertEqual(term(sweeter, "intensity: light")?.role, .prefer)
        XCTAssertEqual(parser.parse("오피스에서 쓰기 좋은 은은한 향수").unknownWords, [], "verbs of use are stopwords")
        XCTAssertEqual(parser.parse("something similar to Black Opium for winter").like, "black opium")
        XCTAssertNil(parser.parse("smells like rose and vanilla").like, "a smell, not a perfume")
        XCTAssertNil(parser.parse("장미 같은 향수").like)
        let fallback = parser.parse("like a spring garden", resolvingLike: false)
        XCTAssertNil(fallback.like)
        XCTAssertEqual(term(fallback, "seasons: spring")?.role, .prefer)
    }

    func testMixedLanguageSpellingVariantsAndUnknownWords() {
        let q = parser.parse("vanille 향수 for women")
        XCTAssertEqual(q.language, "mixed")
        XCTAssertEqual(term(q, "notes: vanilla")?.role, .prefer)
        XCTAssertEqual(term(q, "gender: female")?.role, .prefer)
        let typo = parser.parse("jasmin and sandalowood")
        XCTAssertNotNil(term(typo, "notes: jasmine"))
        XCTAssertNotNil(term(typo, "notes: sandalwood"))
        XCTAssertTrue(term(typo, "notes: sandalwood")?.filter?.contains("'sandalowood'") ?? false, "the catalogue's own misspelling is matched too")
        let unknown = parser.parse("cozy library with old books")
        XCTAssertEqual(unknown.unknownWords, ["library", "old", "books"])
        XCTAssertTrue(unknown.embedText.contains("library") && unknown.embedText.contains("books"), unknown.embedText)
        XCTAssertTrue(unknown.keywordText.contains("library"))
        // Brands from the collection, but never a brand spelled like a common word.
        XCTAssertNotNil(term(parser.parse("maison francis kurkdjian rose"), "brand: Maison Francis Kurkdjian"))
        XCTAssertNil(term(parser.parse("fresh citrus"), "brand: Fresh"))
        XCTAssertNotNil(term(parser.parse("샤넬 향수"), "brand: Chanel"))
        // Fields the collection lacks are dropped.
        let materials = QueryParser(lexicon: Self.lexicon, fields: Set(CollectionSchema.material.fields.map(\.name)))
        XCTAssertTrue(materials.parse("spring rose for men").preferences.isEmpty)
    }

    func testTheMostUsedNotesHaveKoreanNames() throws {
        var counts: [String: Int] = [:]
        let normaliser = PerfumeNormaliser(vocabulary: Self.vocabulary)
        for row in try BundledCatalogue.rows(.perfume) {
            guard let o = try? row.object.get(), let r = try? normaliser.record(from: o), case .tiered(let t)? = r.attributes["notes"] else { continue }
            for n in Set(t.values.flatMap { $0 }) { counts[n, default: 0] += 1 }
        }
        let top = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(300).map(\.key)
        let missing = top.filter { note in !Self.lexicon.noteValues(for: note).contains { Self.lexicon.hasKoreanWord(field: "notes", value: $0) } }
        XCTAssertEqual(missing, [], "notes among the 300 most used without a Korean word")
        var accords = Set<String>()
        for row in try BundledCatalogue.rows(.perfume) {
            guard let o = try? row.object.get(), let r = try? normaliser.record(from: o), case .strings(let a)? = r.attributes["accords"] else { continue }
            accords.formUnion(a)
        }
        XCTAssertEqual(accords.filter { !Self.lexicon.hasKoreanWord(field: "accords", value: $0) }.sorted(), [], "accords without a Korean word")
        for field in ["seasons", "gender", "intensity", "families", "time_of_day"] {
            for value in CollectionSchema.perfume.field(field)?.values ?? [] {
                XCTAssertTrue(Self.lexicon.hasKoreanWord(field: field, value: value), "\(field): \(value)")
            }
        }
    }

    func testTheLexiconIsExtensibleAndChecked() throws {
        var lexicon = Self.lexicon
        XCTAssertNil(QueryParser(lexicon: lexicon).parse("벚꽃엔딩 향수").terms.first)
        try lexicon.add(json: Data(#"{"fields": {"notes": {"cherry blossom": ["벚꽃엔딩"]}}}"#.utf8), name: "mine.json")
        XCTAssertEqual(QueryParser(lexicon: lexicon).parse("벚꽃엔딩 향수").terms.first?.name, "notes: cherry blossom")
        XCTAssertThrowsError(try lexicon.add(json: Data(#"{"feilds": {}}"#.utf8), name: "bad.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'feilds'"), "\($0)")
        }
        XCTAssertThrowsError(try lexicon.add(json: Data(#"{"fields": {"notes": {"rose": "장미"}}}"#.utf8), name: "bad.json")) {
            XCTAssertTrue("\($0)".contains("fields.notes.rose must be a list"), "\($0)")
        }
    }

    func testArbitraryTextNeverBreaksTheParserAndEveryFilterParses() throws {
        let words = ["without", "no", "not", "too", "only", "like", "but", "and", "or", "before", "after", "since", "between", "from",
                     "the", "90s", "'80s", "1990s", "2010", "3000", "0", "-", "'", ",", ".", "년", "2010년", "90년대", "년대", "이전", "부터",
                     "없이", "않은", "같은", "만", "봄", "봄에만", "패출리", "패출리없는", "상큼하고", "달지", "rose", "roses", "lily of the",
                     "valley", "for", "men", "샤넬", "maison", "francis", "kurkdjian", "\"", "'quoted'", "o'brien", "x-free", "-free",
                     "😀", "ß", "é", "ㅋㅋ", "", " ", "vanille", "patchouli-free", "similar", "to", "like like", "not too"]
        var rng = SystemRandomNumberGenerator()
        let schema = CollectionSchema.perfume
        for _ in 0..<3000 {
            let n = Int.random(in: 0...9, using: &rng)
            let text = (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: Bool.random(using: &rng) ? " " : "")
            let q = parser.parse(text)
            // Every filter the parser writes is valid in the filter grammar for the perfume schema.
            for f in [q.filter].compactMap({ $0 }) + q.preferences.map(\.filter) {
                XCTAssertNoThrow(try AttributeIndex(schema: schema).check(FilterParser.parse(f)), "\(text) -> \(f)")
            }
        }
    }

    /// Issue #22: words for a use or a place call for notes and accords (never BM25 as a name),
    /// in English and Korean, and the adjective forms of accords and notes are understood.
    func testConceptWordsAndAdjectivesBecomePreferences() {
        for text in ["beach perfume", "해변 향수", "something for the beach"] {
            let q = parser.parse(text)
            let t = q.terms.first { $0.name.contains("accords: salty") }
            XCTAssertEqual(t?.role, .prefer, "\(text): \(q.terms.map(\.name))")
            XCTAssertTrue(t?.name.contains("notes: coconut") ?? false, "\(text)")
            XCTAssertFalse(q.keywordText.contains("beach") || q.keywordText.contains("해변"), "\(text): '\(q.keywordText)' goes to BM25")
            XCTAssertTrue(q.unknownWords.isEmpty || !q.unknownWords.contains("beach"), "\(q.unknownWords)")
        }
        XCTAssertTrue(parser.parse("business meeting").terms.contains { $0.name.contains("accords: soapy") })
        XCTAssertTrue(parser.parse("office scent").terms.contains { $0.name == "time_of_day: day" }, "a word that had a meaning keeps it alone")
        XCTAssertTrue(parser.parse("gym").terms.contains { $0.name.contains("accords: fresh") })
        XCTAssertTrue(parser.parse("운동 후에 뿌릴 향수").terms.contains { $0.name.contains("accords: fresh") }, "\(parser.parse("운동 후에 뿌릴 향수").terms.map(\.name))")
        XCTAssertTrue(parser.parse("dinner").terms.contains { $0.name.contains("accords: amber") })
        for (word, meaning) in [("minty", "notes: mint"), ("honeyed", "accords: honey"), ("lemony", "notes: lemon"), ("smoky", "accords: smoky"),
                                ("powdery", "accords: powdery"), ("leathery", "accords: leather"), ("boozy", "accords:")] {
            let q = parser.parse("something \(word)")
            XCTAssertTrue(q.terms.contains { $0.name.contains(meaning) && $0.role == .prefer }, "\(word): \(q.terms.map(\.name))")
            XCTAssertFalse(q.keywordText.contains(word), "\(word) goes to BM25")
        }
    }

    func testConceptsRankDownWhatDoesNotSuitThemAsASeparateTerm() {
        for text in ["something for the office", "출근할 때 뿌릴 향수"] {
            let q = parser.parse(text)
            let down = q.terms.first { $0.role == .avoid }
            XCTAssertNotNil(down, "\(text): \(q.terms.map { "\($0.role) \($0.name)" })")
            XCTAssertTrue(down?.name.contains("accords: oud") ?? false, "\(text): \(down?.name ?? "")")
            // Its own term: it subtracts, and the day preference is not widened by an OR.
            XCTAssertTrue(q.terms.contains { $0.role == .prefer && $0.name == "time_of_day: day" }, "\(q.terms.map(\.name))")
            XCTAssertTrue(q.preferences.contains { $0.weight < 0 && $0.filter.contains("oud") }, "\(q.preferences)")
        }
        // Negated, the concept is not asked for, so nothing is ranked down on its behalf.
        XCTAssertFalse(parser.parse("not for the office").terms.contains { $0.role == .avoid && $0.name.contains("oud") })
        // Weather is a season; bedtime is night; unknown Korean words are not embedded.
        XCTAssertTrue(parser.parse("for hot humid weather").terms.contains { $0.name == "seasons: summer" })
        XCTAssertTrue(parser.parse("추운 날").terms.contains { $0.name == "seasons: winter" })
        XCTAssertTrue(parser.parse("calming lavender for bedtime").terms.contains { $0.name == "time_of_day: night" })
        let ko = parser.parse("타닥타닥 바닐라")
        XCTAssertEqual(ko.unknownWords, ["타닥타닥"])
        XCTAssertFalse(ko.embedText.contains("타닥타닥"), ko.embedText)
    }

    func testAMalformedDemotionIsRefusedByName() {
        var lexicon = Lexicon()
        XCTAssertThrowsError(try lexicon.add(json: Data(#"{"demote": {"words": {"office": ["oud"]}}}"#.utf8), name: "mine.json")) {
            XCTAssertTrue("\($0)".contains("demote.words.office: 'oud' is not field:value"), "\($0)")
        }
        XCTAssertThrowsError(try lexicon.add(json: Data(#"{"demote": {"words": ["office"]}}"#.utf8), name: "mine.json"))
    }
}

