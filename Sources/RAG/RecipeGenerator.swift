import Foundation
import FragranceStore
import Perfumery
import Synchronization

/// Retrieval-augmented recipes: retrieve perfumes like the request (vector search with the
/// request's family, season and gender as filters, relaxed until enough perfumes with notes
/// are found), turn their notes into materials, compose, validate. The LLM path (issue #7's
/// second half) plugs in beside the composer; the composer is always there.
public final class RecipeGenerator: Sendable {
    public struct Result: Sendable {
        public var recipe: Recipe
        public var validation: RecipeValidator.Report
        /// The filter the retrieval ended with, and how many perfumes it used.
        public var retrievalFilter: String?
        public var retrieved: Int
        /// Why the LLM's recipe was not used, when an LLM is configured and the composer answered.
        public var fallbackReason: String?
    }

    public struct Failure: Error, CustomStringConvertible {
        public var code: String
        public var description: String
    }

    let database: Database
    let perfumesCollection: String
    let materialsCollection: String
    let vocabulary: Vocabulary
    let briefParser: QueryParser
    public let palette: Palette
    public let complianceData: ComplianceData
    private let parts = Mutex<MaterialCatalog?>(nil)
    /// The LLM path, when configured.
    public let llm: LLMRecipes?

    /// `lexicon`: the one query understanding uses (with `query.lexicon`'s additions), so a
    /// brief reads the way a search does; the bundled one when nil.
    public init(database: Database, perfumes: String = "perfumes", materials: String = "materials", llm: LLMRecipes? = nil,
                lexicon: Lexicon? = nil, palette: Palette? = nil) throws {
        self.llm = llm
        self.database = database
        perfumesCollection = perfumes
        materialsCollection = materials
        vocabulary = try Vocabulary.bundled()
        self.palette = try palette ?? Palette.bundled()
        complianceData = try ComplianceData.bundled()
        briefParser = QueryParser(lexicon: try lexicon ?? Lexicon.bundled(vocabulary: vocabulary), fields: ["seasons", "families", "gender", "intensity"])
    }

    /// A free-text brief (English or Korean) read like a search query: its season, family,
    /// gender and intensity fill the fields the request left empty, and the words that
    /// describe the smell, in English, are what retrieval embeds.
    public func understood(_ request: RecipeRequest) -> RecipeRequest {
        guard let brief = request.brief, !brief.isEmpty else { return request }
        var r = request
        let parsed = briefParser.parse(brief)
        for t in parsed.terms where t.role == .prefer || t.role == .require {
            for v in t.values {
                switch v.field {
                case "seasons" where r.season == nil: r.season = v.value
                case "families" where r.family == nil: r.family = v.value
                case "gender" where r.gender == nil: r.gender = v.value
                case "intensity" where r.intensity == nil: r.intensity = v.value
                default: break
                }
            }
        }
        r.brief = parsed.embedText
        return r
    }

    /// The materials the validator knows beyond the palette: the data directory's materials
    /// collection, or the bundled catalogue while that is not loaded.
    public func catalog() throws -> MaterialCatalog {
        if let p = parts.withLock({ $0 }) { return p }
        var catalog: MaterialCatalog
        if database.collectionNames.contains(materialsCollection), let c = try? database.collection(materialsCollection), c.count > 0 {
            let ids = try c.ids(matching: "ifra_status IN ('prohibited', 'restricted', 'unrestricted')")
            catalog = MaterialCatalog(try c.records(ids).compactMap { $0 }.map(MaterialFacts.init(record:)))
            if catalog.count < 1000 {   // a partial load (tests, a load in progress): the bundled one is complete
                catalog = MaterialCatalog(rows: try BundledCatalogue.rows(.material))
            }
        } else {
            catalog = MaterialCatalog(rows: try BundledCatalogue.rows(.material))
        }
        parts.withLock { $0 = catalog }
        return catalog
    }

    /// The compliance engine over the palette and the catalogue.
    public func compliance() throws -> RecipeCompliance {
        RecipeCompliance(palette: palette, engine: ComplianceEngine(data: complianceData), catalog: try catalog())
    }

    public func validate(_ recipe: Recipe) throws -> RecipeValidator.Report {
        RecipeValidator(compliance: try compliance()).validate(recipe)
    }

    public func generate(_ request: RecipeRequest, repair: Bool = true) throws -> Result {
        let request = understood(request)
        let compliance = try compliance()
        guard database.collectionNames.contains(perfumesCollection) else {
            throw Failure(code: "NOT_FOUND", description: "no '\(perfumesCollection)' collection to retrieve perfumes from (load the catalogue first)")
        }
        let c = try database.collection(perfumesCollection)
        var filters: [(String, String)] = []
        if let f = request.family.map(Vocabulary.fold), !f.isEmpty { filters.append(("family", "families CONTAINS '\(Self.quote(f))'")) }
        if let s = request.season.map(Vocabulary.fold), ["spring", "summer", "fall", "winter"].contains(s) {
            filters.append(("season", "seasons CONTAINS '\(s)'"))
        }
        if let g = request.gender.flatMap(Gender.init(word:)), g != .unisex {
            filters.append(("gender", "gender IN ('\(g.rawValue)', 'unisex')"))
        }
        // Retrieve with every filter, then drop the least telling ones until enough perfumes have notes.
        var context: [RetrievedPerfume] = []
        var used: String?
        for drop in 0...filters.count {
            let kept = filters.dropLast(drop).map(\.1)
            let filter = kept.isEmpty ? nil : kept.joined(separator: " AND ")
            let result = try c.search(SearchRequest(text: request.queryText, k: 24, filter: filter))
            let records = try c.records(result.hits.map(\.id))
            context = zip(result.hits, records).compactMap { hit, r in
                guard case .tiered(let t)? = r?.attributes["notes"], !t.isEmpty else { return nil }
                var accords: [String] = []
                if case .strings(let a)? = r?.attributes["accords"] { accords = a }
                return RetrievedPerfume(id: hit.id, similarity: Double(hit.score), notes: t, accords: accords)
            }
            used = filter
            if context.count >= 8 { break }
        }
        let composer = RecipeComposer(palette: palette, compliance: compliance)
        let recipe = composer.compose(request, context: Array(context.prefix(16)), repair: repair)
        return Result(recipe: recipe, validation: RecipeValidator(compliance: compliance).validate(recipe), retrievalFilter: used, retrieved: context.count)
    }

    /// With an LLM configured: the composer's retrieval and recipe first (the context, and the
    /// answer whenever the LLM cannot give a valid one), then the LLM, one repair round, and
    /// the breaker's bookkeeping.
    /// `base` is `generate(request)`, computed by the caller where blocking work belongs.
    public func refineWithLLM(_ request: RecipeRequest, base: Result) async throws -> Result {
        var base = base
        guard let llm else { return base }
        guard llm.breaker.allow() else {
            base.fallbackReason = "the LLM circuit breaker is open"
            return base
        }
        let compliance = try compliance()
        let context = try retrievedContext(for: base.recipe)
        let validator = RecipeValidator(compliance: compliance)
        var messages = llm.prompt(request, context: context, palette: palette, compliance: compliance, base: base.recipe)
        var failure = ""
        for attempt in 0..<2 {
            do {
                let text = try await llm.client.chat(messages, schema: LLMRecipes.schema, role: "orchestrator")
                var recipe = try LLMRecipes.parse(text, compliance: compliance, like: base.recipe)
                recipe.generator = "llm:\(llm.client.model(for: "orchestrator"))"
                recipe.contextPerfumes = base.recipe.contextPerfumes
                recipe.seed = nil
                // Whatever the model wrote goes through the same engine and repair as the composer's.
                LLMRecipes.normalise(&recipe)
                recipe.adjustments = compliance.repair(&recipe, avoid: Set(request.avoid.compactMap { palette.find($0)?.id }))
                RecipeComposer.finish(&recipe, palette: palette)
                recipe.fillProduct()
                let report = validator.validate(recipe)
                if report.valid {
                    llm.breaker.recordSuccess()
                    return Result(recipe: recipe, validation: report, retrievalFilter: base.retrievalFilter, retrieved: base.retrieved)
                }
                failure = "the LLM's recipe failed validation: " + report.problems.filter { $0.severity == .error }.prefix(3).map(\.message).joined(separator: "; ")
                if attempt == 0 {
                    messages.append(LLMClient.Message("assistant", text))
                    messages.append(LLMClient.Message("user", "That formula has problems: \(failure). Answer with a corrected JSON formula only."))
                }
            } catch {
                failure = "\(error)"
                break   // a dead or slow backend gets no second round
            }
        }
        llm.breaker.recordFailure(failure)
        base.fallbackReason = failure
        return base
    }

    /// The retrieved perfumes a composer recipe cites, with their notes.
    func retrievedContext(for recipe: Recipe) throws -> [RetrievedPerfume] {
        guard database.collectionNames.contains(perfumesCollection) else { return [] }
        let c = try database.collection(perfumesCollection)
        return try zip(recipe.contextPerfumes, c.records(recipe.contextPerfumes)).compactMap { id, r in
            guard case .tiered(let t)? = r?.attributes["notes"] else { return nil }
            var accords: [String] = []
            if case .strings(let a)? = r?.attributes["accords"] { accords = a }
            return RetrievedPerfume(id: id, similarity: 1, notes: t, accords: accords)
        }
    }

    static func quote(_ s: String) -> String { s.replacingOccurrences(of: "'", with: "''") }
}
