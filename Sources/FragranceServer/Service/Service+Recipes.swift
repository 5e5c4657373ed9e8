import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

// GENERATE, VALIDATE, BREAKER — and `POST /api/v1/generate/recipe|batch`,
// `POST /api/v1/recipes/validate`, `GET /api/v1/circuit-breaker/status`.

public struct RecipeReply: Encodable, Sendable {
    public struct Retrieval: Encodable, Sendable {
        @Nullable var filter: String?
        var perfumes: Int
    }
    var recipe: Recipe
    var validation: RecipeValidator.Report
    var generator: String
    var contextPerfumes: [String]
    var retrieval: Retrieval
    var tookMs: Double
    var fallbackReason: String?
    enum CodingKeys: String, CodingKey {
        case recipe, validation, generator, retrieval
        case contextPerfumes = "context_perfumes", tookMs = "took_ms", fallbackReason = "fallback_reason"
    }
}

public struct ValidationReply: Encodable, Sendable { var validation: RecipeValidator.Report }

public struct SubstitutesRequest: Sendable, Equatable {
    public var material: String
    public var product: ProductType = .fineFragrance
    public var concentration: Recipe.Concentration = .edp
    public var fragrancePercent: Double?
    public var limit = 5
}

/// A material as the palette knows it, with what the product allows of it.
public struct PaletteMaterialReply: Encodable, Sendable {
    var id: String, name: String, cas: String, natural: Bool, role: String, family: String, facets: [String]
    var typical: [Double]
    /// The most a formula may hold, % of the concentrate: the palette's ceiling or the product's legal limit, whichever is lower.
    var maxPercent: Double
    /// Nil when no IFRA standard or EU limit restricts it in this product.
    @Nullable var legalMaxPercent: Double?
    var similarity: Double?
    var reason: String?
    enum CodingKeys: String, CodingKey {
        case id, name, cas, natural, role, family, facets, typical, similarity, reason
        case maxPercent = "max_percent", legalMaxPercent = "legal_max_percent"
    }
}

public struct SubstitutesReply: Encodable, Sendable {
    var material: PaletteMaterialReply
    var product: ProductType
    var fragrancePercent: Double
    var substitutes: [PaletteMaterialReply]
    enum CodingKeys: String, CodingKey { case material, product, substitutes, fragrancePercent = "fragrance_percent" }
}

public struct BreakerReply: Encodable, Sendable {
    public struct SettingsBody: Encodable, Sendable {
        var failureThreshold: Int, openSeconds: Double, halfOpenSuccesses: Int
        enum CodingKeys: String, CodingKey {
            case failureThreshold = "failure_threshold", openSeconds = "open_seconds", halfOpenSuccesses = "half_open_successes"
        }
    }
    public struct Backend: Encodable, Sendable { var url: String, api: String, model: String, roles: [String: String] }
    var configured: Bool
    var state: String
    var message: String?
    var consecutiveFailures: Int?, halfOpenSuccesses: Int?, totalSuccesses: Int?, totalFailures: Int?, rejected: Int?
    var openedAt: Nullable<String>?
    var lastError: Nullable<String>?
    var settings: SettingsBody?
    var backend: Backend?
    enum CodingKeys: String, CodingKey {
        case configured, state, message, rejected, settings, backend
        case consecutiveFailures = "consecutive_failures", halfOpenSuccesses = "half_open_successes", totalSuccesses = "total_successes",
             totalFailures = "total_failures", openedAt = "opened_at", lastError = "last_error"
    }
}

extension FragranceService {
    func recipeGenerator() throws -> RecipeGenerator {
        guard let recipes else { throw ProtocolError(.unavailable, recipesUnavailable) }
        return recipes
    }

    /// Retrieval and the composer (blocking, on `run`'s thread), then the LLM when configured:
    /// when it fails the composer's recipe is the answer, with `fallback_reason`.
    public func generate(_ request: RecipeRequest, blocking run: @Sendable (@escaping @Sendable () throws -> RecipeGenerator.Result) async throws -> RecipeGenerator.Result) async throws -> RecipeReply {
        let g = try recipeGenerator()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var result = try await run { try g.generate(request) }
        if g.llm != nil {
            result = try await g.refineWithLLM(request, base: result)
        }
        return RecipeReply(recipe: result.recipe, validation: result.validation, generator: result.recipe.generator,
                           contextPerfumes: result.recipe.contextPerfumes,
                           retrieval: .init(filter: result.retrievalFilter, perfumes: result.retrieved),
                           tookMs: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, fallbackReason: result.fallbackReason)
    }

    /// Compliant materials of similar odour for a material (restricted, over its limit, or
    /// unwanted), best first, each with why it is similar and what the product allows.
    public func substitutes(_ r: SubstitutesRequest) throws -> SubstitutesReply {
        let g = try recipeGenerator()
        let palette = g.palette
        guard let m = palette.find(r.material) else {
            throw ProtocolError(.notFound, "'\(r.material)' is not in the palette\(suggestion(r.material, among: palette.materials.map(\.name)))")
        }
        let compliance = try g.compliance()
        let share = r.fragrancePercent ?? r.product.defaultFragrancePercent(r.concentration)
        func reply(_ x: Palette.Material, similarity: Double? = nil, reason: String? = nil) -> PaletteMaterialReply {
            let legal = compliance.maxPercent(x, product: r.product, fragrancePercent: share)
            return PaletteMaterialReply(id: x.id, name: x.name, cas: x.cas, natural: x.natural, role: x.role, family: x.family, facets: x.facets,
                                        typical: x.use, maxPercent: (min(x.ceiling, legal ?? .infinity) * 1000).rounded() / 1000,
                                        legalMaxPercent: legal.map { ($0 * 1000).rounded() / 1000 }, similarity: similarity, reason: reason)
        }
        let subs = palette.substitutes(for: m, limit: r.limit) { c in
            let cap = compliance.maxPercent(c, product: r.product, fragrancePercent: share)
            return cap.map { $0 >= c.use[0] } ?? true
        }
        return SubstitutesReply(material: reply(m), product: r.product, fragrancePercent: share,
                                substitutes: subs.map { reply($0.material, similarity: $0.similarity, reason: $0.reason) })
    }

    public func validate(_ recipe: Recipe) throws -> ValidationReply {
        ValidationReply(validation: try recipeGenerator().validate(recipe))
    }

    public func breakerStatus() -> BreakerReply {
        guard let llm = recipes?.llm else {
            return BreakerReply(configured: false, state: "closed", message: "no LLM is configured (llm.url); recipes come from the composer")
        }
        let s = llm.breaker.status, cfg = llm.breaker.settings, client = llm.client.settings
        return BreakerReply(configured: true, state: s.state.rawValue, consecutiveFailures: s.consecutiveFailures,
                            halfOpenSuccesses: s.halfOpenSuccesses, totalSuccesses: s.totalSuccesses, totalFailures: s.totalFailures,
                            rejected: s.rejected, openedAt: Nullable(wrappedValue: s.openedAt.map { ISO8601DateFormatter().string(from: $0) }),
                            lastError: Nullable(wrappedValue: s.lastError),
                            settings: .init(failureThreshold: cfg.failureThreshold, openSeconds: cfg.openSeconds, halfOpenSuccesses: cfg.halfOpenSuccesses),
                            backend: .init(url: client.baseURL, api: client.api.rawValue, model: client.model, roles: client.roles))
    }
}
