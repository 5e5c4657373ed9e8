import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

/// Recipe requests and submitted recipes from JSON objects, for both protocols (GENERATE and
/// VALIDATE take the same objects as the HTTP bodies). Errors name the field.
enum RecipeJSON {
    static let requestFields: Set<String> = ["fragrance_family", "mood", "intensity", "gender", "season", "brief", "concentration", "seed"]

    /// A request from the seed's structured form (and/or a free-text brief); checks each field.
    static func request(_ o: [String: Any], field prefix: String?) throws -> RecipeRequest {
        func name(_ k: String) -> String { prefix.map { "\($0).\(k)" } ?? k }
        if let unknown = o.keys.sorted().first(where: { !requestFields.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(requestFields))) (known: \(requestFields.sorted().joined(separator: ", ")))", field: name(unknown))
        }
        func string(_ k: String, _ allowed: [String]? = nil, max: Int = 60) throws -> String? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw ProtocolError(.badType, "'\(k)' must be a string", field: name(k)) }
            let t = Vocabulary.fold(s)
            guard !t.isEmpty, t.count <= max else { throw ProtocolError(.badValue, "'\(k)' must be 1 to \(max) characters", field: name(k)) }
            if let allowed, !allowed.contains(t) {
                throw ProtocolError(.badValue, "'\(k)' must be one of \(allowed.joined(separator: ", ")), got '\(s)'", field: name(k))
            }
            return t
        }
        var r = RecipeRequest()
        r.family = try string("fragrance_family")
        r.mood = try string("mood")
        r.intensity = try string("intensity", RequestWords.intensities)
        r.gender = try string("gender", Gender.requestWords)
        r.season = try string("season", RequestWords.seasonNames).map { RequestWords.seasons[$0] ?? $0 }
        r.brief = try string("brief", max: 500)
        if let c = o["concentration"] {
            guard let s = c as? String, let v = Recipe.Concentration.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
                throw ProtocolError(.badValue, "'concentration' must be EdC, EdT, EdP or Parfum", field: name("concentration"))
            }
            r.concentration = v
        }
        if let s = o["seed"] {
            guard let n = s as? NSNumber, !isJSONBool(n), n.doubleValue >= 0, n.doubleValue == n.doubleValue.rounded() else {
                throw ProtocolError(.badType, "'seed' must be a non-negative integer", field: name("seed"))
            }
            r.seed = n.uint64Value
        }
        guard r.family != nil || r.mood != nil || r.brief != nil else {
            throw ProtocolError(.missingField, "give at least one of fragrance_family, mood or brief", field: prefix ?? "fragrance_family")
        }
        return r
    }

    /// A recipe a person wrote: materials by `material_id` or `name`, percents of the concentrate.
    static func recipe(_ o: [String: Any]) throws -> Recipe {
        let known: Set<String> = ["name", "concentration", "top", "heart", "base", "generator", "context_perfumes", "seed"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(known))) (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
        }
        let cText = (o["concentration"] as? String) ?? "EdP"
        guard let c = Recipe.Concentration.allCases.first(where: { $0.rawValue.lowercased() == cText.lowercased() }) else {
            throw ProtocolError(.badValue, "'concentration' must be EdC, EdT, EdP or Parfum", field: "concentration")
        }
        func tier(_ k: String) throws -> [Recipe.Ingredient] {
            guard let v = o[k] else { return [] }
            guard let list = v as? [Any] else { throw ProtocolError(.badType, "'\(k)' must be a list of ingredients", field: k) }
            return try list.enumerated().map { i, item in
                guard let d = item as? [String: Any] else { throw ProtocolError(.badType, "each ingredient must be an object", field: "\(k)[\(i)]") }
                let id = d["material_id"] as? String ?? ""
                let name = d["name"] as? String ?? ""
                guard !id.isEmpty || !name.isEmpty else { throw ProtocolError(.missingField, "an ingredient needs material_id or name", field: "\(k)[\(i)]") }
                guard let n = d["percent"] as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else {
                    throw ProtocolError(.badType, "'percent' must be a number", field: "\(k)[\(i)].percent")
                }
                return Recipe.Ingredient(materialId: id, name: name, percent: n.doubleValue)
            }
        }
        return Recipe(name: o["name"] as? String ?? "submitted", concentration: c, top: try tier("top"), heart: try tier("heart"),
                      base: try tier("base"), generator: o["generator"] as? String ?? "user")
    }
}
