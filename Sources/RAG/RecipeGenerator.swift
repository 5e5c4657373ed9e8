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
    }

    public struct Failure: Error, CustomStringConvertible {
        public var code: String
        public var description: String
    }

    let database: Database
    let perfumesCollection: String
    let materialsCollection: String
    let vocabulary: Vocabulary
    let rules: RecipeRules
    let noteTiers: [String: String]
    private let parts = Mutex<(catalog: MaterialCatalog, notes: NoteMaterials)?>(nil)

    public init(database: Database, perfumes: String = "perfumes", materials: String = "materials") throws {
        self.database = database
        perfumesCollection = perfumes
        materialsCollection = materials
        vocabulary = try Vocabulary.bundled()
        rules = try RecipeRules.bundled()
        noteTiers = try NoteTiers.bundled(vocabulary: vocabulary)
    }

    /// The materials the composer and validator know: the data directory's materials collection,
    /// or the bundled catalogue while that is not loaded.
    public func catalog() throws -> (catalog: MaterialCatalog, notes: NoteMaterials) {
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
        let p = (catalog, NoteMaterials(catalog: catalog))
        parts.withLock { $0 = p }
        return p
    }

    public func validate(_ recipe: Recipe) throws -> RecipeValidator.Report {
        RecipeValidator(catalog: try catalog().catalog).validate(recipe)
    }

    public func generate(_ request: RecipeRequest) throws -> Result {
        let (catalog, notes) = try catalog()
        guard database.collectionNames.contains(perfumesCollection) else {
            throw Failure(code: "NOT_FOUND", description: "no '\(perfumesCollection)' collection to retrieve perfumes from (load the catalogue first)")
        }
        let c = try database.collection(perfumesCollection)
        var filters: [(String, String)] = []
        if let f = request.family.map(Vocabulary.fold), !f.isEmpty { filters.append(("family", "families CONTAINS '\(Self.quote(f))'")) }
        if let s = request.season.map(Vocabulary.fold), ["spring", "summer", "fall", "winter"].contains(s) {
            filters.append(("season", "seasons CONTAINS '\(s)'"))
        }
        if let g = request.gender.map(Vocabulary.fold) {
            let mapped = ["feminine": "female", "female": "female", "women": "female", "masculine": "male", "male": "male", "men": "male"][g]
            if let mapped { filters.append(("gender", "gender IN ('\(mapped)', 'unisex')")) }
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
                return RetrievedPerfume(id: hit.id, similarity: Double(hit.score), notes: t)
            }
            used = filter
            if context.count >= 8 { break }
        }
        let composer = RecipeComposer(rules: rules, catalog: catalog, typicalTier: noteTiers, materialFor: { notes.material(for: $0) })
        let recipe = composer.compose(request, context: Array(context.prefix(16)))
        return Result(recipe: recipe, validation: RecipeValidator(catalog: catalog).validate(recipe), retrievalFilter: used, retrieved: context.count)
    }

    static func quote(_ s: String) -> String { s.replacingOccurrences(of: "'", with: "''") }
}
