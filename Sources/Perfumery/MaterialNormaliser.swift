import FragranceCore
import Foundation
import FragranceStore

/// Turns a raw-material row (schemas/material.schema.json) into a record of the `material`
/// schema: odour words case-folded, IFRA status spelled out, the text to embed composed.
public struct MaterialNormaliser: Sendable {
    public var ignoreUnknownFields: Bool

    public static let fields: Set<String> = ["id", "name", "cas", "synonyms", "odor_descriptors", "descriptors", "family", "odor_strength",
                                             "strength", "substantivity_hours", "ifra_limit_pct", "ifra_prohibited", "ifra_standards",
                                             "sources", "vector"]

    public init(ignoreUnknownFields: Bool = false) { self.ignoreUnknownFields = ignoreUnknownFields }

    public func record(from row: [String: Any], dimension: Int? = nil) throws -> Record {
        let f = try RowFields(row, known: Self.fields, ignoreUnknown: ignoreUnknownFields)
        let (id, name) = try f.idAndName()
        var a: [String: AttributeValue] = ["name": .string(name)]
        if let cas = try f.string("cas", max: 40), !cas.isEmpty {
            guard cas.range(of: #"^\d{2,7}-\d{2}-\d$"#, options: .regularExpression) != nil else { throw RowError("'cas' must look like 50-00-0, got '\(cas)'") }
            a["cas"] = .string(cas)
        }
        let synonyms = try f.list("synonyms") ?? []
        if !synonyms.isEmpty { a["synonyms"] = .strings(Array(synonyms.prefix(50))) }
        let descriptors = (try f.list("odor_descriptors") ?? f.list("descriptors") ?? []).map(Vocabulary.fold)
        if !descriptors.isEmpty { a["descriptors"] = .strings(descriptors) }
        let family = try f.string("family", max: 60).map(Vocabulary.fold)
        if let family, !family.isEmpty { a["family"] = .string(family) }
        if let s = try f.string("odor_strength", max: 20) ?? f.string("strength", max: 20) { a["strength"] = .string(Vocabulary.fold(s)) }
        if let h = try f.double("substantivity_hours", in: 0...10_000) { a["substantivity_hours"] = .float(h) }
        let limit = try f.double("ifra_limit_pct", in: 0...100)
        if let limit { a["ifra_limit_pct"] = .float(limit) }
        var prohibited = false
        if let p = f.present("ifra_prohibited") {
            guard let n = p as? NSNumber, isJSONBool(n) else { throw RowError("'ifra_prohibited' must be true or false") }
            prohibited = n.boolValue
        }
        a["ifra_status"] = .string(prohibited || limit == 0 ? "prohibited" : limit != nil ? "restricted" : "unrestricted")
        if let s = try f.list("ifra_standards"), !s.isEmpty { a["ifra_standards"] = .strings(s) }
        if let s = try f.list("sources"), !s.isEmpty { a["sources"] = .strings(s) }
        var text = name + "."
        if !descriptors.isEmpty { text += " \(family.map { $0.prefix(1).uppercased() + $0.dropFirst() + " material" } ?? "Odour"): " + descriptors.prefix(10).joined(separator: ", ") + "." }
        if !synonyms.isEmpty { text += " Also: " + synonyms.prefix(3).joined(separator: ", ") + "." }
        a["text"] = .string(text)
        var record = Record(id: id, attributes: a)
        if let v = try f.floats("vector") {
            if let dimension, v.count != dimension { throw RowError("'vector' has \(v.count) numbers; the collection takes \(dimension)") }
            record.vector = v
        }
        return record
    }
}
