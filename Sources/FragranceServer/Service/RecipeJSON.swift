import FragranceProtocol
import FragranceStore
import Foundation
import NIOPosix
import Perfumery
import RAG

/// JSON in and out of recipe generation and validation, shared by HTTP and the GENERATE command.
enum RecipeAPI {
    static let requestFields: Set<String> = ["fragrance_family", "mood", "intensity", "gender", "season", "brief", "concentration", "seed"]

    /// A request from the seed's structured form (and/or a free-text brief); checks each field.
    static func request(_ o: [String: Any], field prefix: String?) throws -> RecipeRequest {
        func name(_ k: String) -> String { prefix.map { "\($0).\(k)" } ?? k }
        func string(_ k: String, _ allowed: [String]? = nil, max: Int = 60) throws -> String? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw APIError(.badRequest, .badType, "'\(k)' must be a string", field: name(k)) }
            let t = Vocabulary.fold(s)
            guard !t.isEmpty, t.count <= max else { throw APIError(.badRequest, .badValue, "'\(k)' must be 1 to \(max) characters", field: name(k)) }
            if let allowed, !allowed.contains(t) {
                throw APIError(.badRequest, .badValue, "'\(k)' must be one of \(allowed.joined(separator: ", ")), got '\(s)'", field: name(k))
            }
            return t
        }
        var r = RecipeRequest()
        r.family = try string("fragrance_family")
        r.mood = try string("mood")
        r.intensity = try string("intensity", ["light", "moderate", "strong"])
        r.gender = try string("gender", ["feminine", "masculine", "unisex", "female", "male", "women", "men"])
        r.season = try string("season", ["spring", "summer", "fall", "autumn", "winter"]).map { $0 == "autumn" ? "fall" : $0 }
        r.brief = try string("brief", max: 500)
        if let c = o["concentration"] {
            guard let s = c as? String, let v = Recipe.Concentration.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
                throw APIError(.badRequest, .badValue, "'concentration' must be EdC, EdT, EdP or Parfum", field: name("concentration"))
            }
            r.concentration = v
        }
        if let s = o["seed"] {
            guard let n = s as? NSNumber, !JSONBody.isBool(n), n.doubleValue >= 0, n.doubleValue == n.doubleValue.rounded() else {
                throw APIError(.badRequest, .badType, "'seed' must be a non-negative integer", field: name("seed"))
            }
            r.seed = n.uint64Value
        }
        guard r.family != nil || r.mood != nil || r.brief != nil else {
            throw APIError(.badRequest, .missingField, "give at least one of fragrance_family, mood or brief", field: prefix ?? "fragrance_family")
        }
        return r
    }

    /// Retrieval and the composer: blocking work, for a thread pool.
    static func compose(_ g: RecipeGenerator, _ r: RecipeRequest) throws -> RecipeGenerator.Result {
        do { return try g.generate(r) }
        catch let e as RecipeGenerator.Failure { throw APIError(.serviceUnavailable, ErrorCode(rawValue: e.code) ?? .unavailable, e.description) }
    }

    /// The whole generation for the HTTP API: compose on the pool, then the LLM when configured.
    static func generate(_ g: RecipeGenerator, _ r: RecipeRequest, pool: NIOThreadPool) async throws -> [String: Any] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var result = try await pool.runIfActive { try compose(g, r) }
        if g.llm != nil { result = try await g.refineWithLLM(r, base: result) }
        return json(result, since: t0)
    }

    /// The same from a thread-pool thread (the line protocol), waiting for the LLM there.
    static func generateBlocking(_ g: RecipeGenerator, _ r: RecipeRequest) throws -> [String: Any] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var result = try compose(g, r)
        if g.llm != nil {
            let base = result
            result = waitBlocking { (try? await g.refineWithLLM(r, base: base)) ?? base }
        }
        return json(result, since: t0)
    }

    static func json(_ result: RecipeGenerator.Result, since t0: UInt64) -> [String: Any] {
        var o: [String: Any] = ["recipe": json(result.recipe), "validation": json(result.validation), "generator": result.recipe.generator,
                                "context_perfumes": result.recipe.contextPerfumes,
                                "retrieval": ["filter": result.retrievalFilter ?? NSNull(), "perfumes": result.retrieved] as [String: Any],
                                "took_ms": Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6]
        if let f = result.fallbackReason { o["fallback_reason"] = f }
        return o
    }

    static func json<T: Encodable>(_ v: T) -> Any {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? JSONSerialization.jsonObject(with: e.encode(v))) ?? NSNull()
    }

    /// A recipe a person wrote: materials by `material_id` or `name`, percents of the concentrate.
    static func recipe(_ o: [String: Any]) throws -> Recipe {
        let known: Set<String> = ["name", "concentration", "top", "heart", "base", "generator", "context_perfumes", "seed"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError(.badRequest, .unknownField, "unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
        }
        let cText = (o["concentration"] as? String) ?? "EdP"
        guard let c = Recipe.Concentration.allCases.first(where: { $0.rawValue.lowercased() == cText.lowercased() }) else {
            throw APIError(.badRequest, .badValue, "'concentration' must be EdC, EdT, EdP or Parfum", field: "concentration")
        }
        func tier(_ k: String) throws -> [Recipe.Ingredient] {
            guard let v = o[k] else { return [] }
            guard let list = v as? [Any] else { throw APIError(.badRequest, .badType, "'\(k)' must be a list of ingredients", field: k) }
            return try list.enumerated().map { i, item in
                guard let d = item as? [String: Any] else { throw APIError(.badRequest, .badType, "each ingredient must be an object", field: "\(k)[\(i)]") }
                let id = d["material_id"] as? String ?? ""
                let name = d["name"] as? String ?? ""
                guard !id.isEmpty || !name.isEmpty else { throw APIError(.badRequest, .missingField, "an ingredient needs material_id or name", field: "\(k)[\(i)]") }
                guard let n = d["percent"] as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite else {
                    throw APIError(.badRequest, .badType, "'percent' must be a number", field: "\(k)[\(i)].percent")
                }
                return Recipe.Ingredient(materialId: id, name: name, percent: n.doubleValue)
            }
        }
        return Recipe(name: o["name"] as? String ?? "submitted", concentration: c, top: try tier("top"), heart: try tier("heart"),
                      base: try tier("base"), generator: o["generator"] as? String ?? "user")
    }
}

/// JSON-shaped values handed between threads (they are never mutated once built).
struct SendableJSON: @unchecked Sendable {
    let value: [String: Any]
    init(_ v: [String: Any]) { value = v }
}

struct SendableAny: @unchecked Sendable {
    let value: Any
    init(_ v: Any) { value = v }
}
