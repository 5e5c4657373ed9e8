import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

/// Recipe requests and submitted recipes from JSON objects, for both protocols (GENERATE and
/// VALIDATE take the same objects as the HTTP bodies). Errors name the field.
enum RecipeJSON {
    static let requestFields: Set<String> = ["fragrance_family", "mood", "intensity", "gender", "season", "brief", "concentration", "seed", "product", "avoid"]

    /// `product`: a product name or an IFRA category ("5A"); BAD_VALUE lists the names.
    static func product(_ v: Any?, field: String) throws -> ProductType? {
        guard let v, !(v is NSNull) else { return nil }
        // A recipe this server wrote carries its product as an object: its name is enough.
        guard let s = (v as? String) ?? ((v as? [String: Any])?["name"] as? String) else {
            throw ProtocolError(.badType, "'product' must be a product name (or an object with one)", field: field)
        }
        guard let p = ProductType(word: s) else {
            throw ProtocolError(.badValue, "unknown product '\(s)'\(suggestion(s, among: ProductType.names)) (known: \(ProductType.names.joined(separator: ", ")), or an IFRA category such as 5A)", field: field)
        }
        return p
    }

    /// `fragrance_percent`: the concentrate's % of the product, above 0 and at most 100.
    static func fragrancePercent(_ v: Any?) throws -> Double? {
        guard let v, !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber, !isJSONBool(n), n.doubleValue > 0, n.doubleValue <= 100 else {
            throw ProtocolError(.badValue, "'fragrance_percent' must be a number above 0 and at most 100 (the concentrate's % of the product)", field: "fragrance_percent")
        }
        return n.doubleValue
    }

    static func concentration(_ v: Any?, field: String) throws -> Recipe.Concentration? {
        guard let v, !(v is NSNull) else { return nil }
        guard let s = v as? String, let c = Recipe.Concentration(word: s) else {
            throw ProtocolError(.badValue, "'concentration' must be EdC, EdT, EdP or Parfum", field: field)
        }
        return c
    }

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
        r.concentration = try concentration(o["concentration"], field: name("concentration"))
        r.product = try product(o["product"], field: name("product"))
        if let a = o["avoid"], !(a is NSNull) {
            guard let list = a as? [Any], list.allSatisfy({ $0 is String }), list.count <= 50 else {
                throw ProtocolError(.badType, "'avoid' must be a list of at most 50 material names, ids or CAS numbers", field: name("avoid"))
            }
            r.avoid = list.map { $0 as! String }
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
        let known: Set<String> = ["name", "concentration", "top", "heart", "base", "generator", "context_perfumes", "seed", "product", "fragrance_percent",
                                  "carrier", "accords", "adjustments"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(known))) (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
        }
        let c = try concentration(o["concentration"], field: "concentration") ?? .edp
        let product = try product(o["product"], field: "product") ?? .fineFragrance
        let share = try fragrancePercent(o["fragrance_percent"])
        func tier(_ k: String) throws -> [Recipe.Ingredient] {
            guard let v = o[k] else { return [] }
            guard let list = v as? [Any] else { throw ProtocolError(.badType, "'\(k)' must be a list of ingredients", field: k) }
            return try list.enumerated().map { i, item in
                guard let d = item as? [String: Any] else { throw ProtocolError(.badType, "each ingredient must be an object", field: "\(k)[\(i)]") }
                let id = d["material_id"] as? String ?? d["cas"] as? String ?? ""
                let name = d["name"] as? String ?? ""
                guard !id.isEmpty || !name.isEmpty else { throw ProtocolError(.missingField, "an ingredient needs material_id or name", field: "\(k)[\(i)]") }
                guard let n = d["percent"] as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else {
                    throw ProtocolError(.badType, "'percent' must be a number", field: "\(k)[\(i)].percent")
                }
                return Recipe.Ingredient(materialId: id, name: name, percent: n.doubleValue)
            }
        }
        return Recipe(name: o["name"] as? String ?? "submitted", concentration: c, top: try tier("top"), heart: try tier("heart"),
                      base: try tier("base"), generator: o["generator"] as? String ?? "user", product: product, fragrancePercent: share)
    }

    static let substitutesFields: Set<String> = ["material", "product", "concentration", "fragrance_percent", "limit"]

    /// SUBSTITUTES' and POST /api/v1/recipes/substitutes' body.
    static func substitutes(_ o: [String: Any]) throws -> SubstitutesRequest {
        if let unknown = o.keys.sorted().first(where: { !substitutesFields.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(substitutesFields))) (known: \(substitutesFields.sorted().joined(separator: ", ")))", field: unknown)
        }
        guard let m = o["material"] as? String, !m.trimmingCharacters(in: .whitespaces).isEmpty, m.count <= 200 else {
            throw ProtocolError(.missingField, "'material' must name a material: a palette id, CAS number or name (at most 200 characters)", field: "material")
        }
        var r = SubstitutesRequest(material: m)
        r.product = try product(o["product"], field: "product") ?? .fineFragrance
        r.concentration = try concentration(o["concentration"], field: "concentration") ?? .edp
        r.fragrancePercent = try fragrancePercent(o["fragrance_percent"])
        if let l = o["limit"], !(l is NSNull) {
            guard let n = l as? NSNumber, !isJSONBool(n), n.doubleValue == n.doubleValue.rounded(), (1...50).contains(n.intValue) else {
                throw ProtocolError(.badValue, "'limit' must be an integer from 1 to 50", field: "limit")
            }
            r.limit = n.intValue
        }
        return r
    }
}
