import FragranceStore

/// The perfumery schemas: what a perfume and a raw material record hold. The store knows only
/// field types; these are the domain's choice of fields, allowed values and keyword weights
/// (documented in schemas/perfume.schema.json and schemas/material.schema.json).
extension CollectionSchema {
    /// The schemas a collection definition may name instead of spelling out fields.
    public static let named: [String: CollectionSchema] = ["perfume": .perfume, "material": .material]

    /// The schemas whose older stored forms a database upgrades (Database.Options.presets).
    public static let presets: [CollectionSchema] = [.perfume, .material]

    /// The perfume schema of the design card, plus the catalogue's facts and the provenance of
    /// the values import fills in (`*_origin`: observed in the source, or derived; see
    /// schemas/perfume.schema.json).
    public static let perfume = CollectionSchema(fields: [
        FieldSchema("name", .text, keyword: 3),
        FieldSchema("description", .text),
        FieldSchema("family", .string, keyword: 1),
        FieldSchema("seasons", .set, values: ["spring", "summer", "fall", "winter"], synonyms: ["autumn": "fall"]),
        FieldSchema("intensity", .string, values: ["light", "moderate", "strong"]),
        FieldSchema("gender", .string, values: ["female", "male", "unisex"], synonyms: Gender.synonyms),
        FieldSchema("year", .int),
        FieldSchema("brand", .string, keyword: 2),
        FieldSchema("accords", .set, keyword: 1.5),
        FieldSchema("notes", .tieredSet, tiers: ["top", "heart", "base", "unspecified"], keyword: 1.5),
        FieldSchema("rating", .float),
        FieldSchema("votes", .int),
        FieldSchema("families", .set, keyword: 1),
        FieldSchema("time_of_day", .set, values: ["day", "night"]),
        FieldSchema("longevity", .string, values: ["very_weak", "weak", "moderate", "long_lasting", "eternal"]),
        FieldSchema("sillage", .string, values: ["intimate", "moderate", "strong", "enormous"]),
        FieldSchema("family_origin", .string, values: ["observed", "derived"]),
        FieldSchema("seasons_origin", .string, values: ["observed", "derived"]),
        FieldSchema("intensity_origin", .string, values: ["observed", "derived"]),
        FieldSchema("sources", .set),
        FieldSchema("text", .text),
    ])

    /// Perfumery raw materials: names, odour, IFRA Category 4 (fine fragrance) limits.
    public static let material = CollectionSchema(fields: [
        FieldSchema("name", .text, keyword: 3),
        FieldSchema("cas", .string, keyword: 1),
        FieldSchema("synonyms", .set, keyword: 2),
        FieldSchema("descriptors", .set, keyword: 1),
        FieldSchema("family", .string, keyword: 1),
        FieldSchema("strength", .string, values: ["low", "medium", "high", "very high"]),
        FieldSchema("substantivity_hours", .float),
        FieldSchema("ifra_limit_pct", .float),
        FieldSchema("ifra_status", .string, values: ["prohibited", "restricted", "unrestricted"]),
        FieldSchema("ifra_standards", .set),
        FieldSchema("sources", .set),
        FieldSchema("text", .text),
    ])
}

extension Database.Options {
    /// Options for a database of perfumery collections: its preset schemas are the perfume and
    /// material schemas, so collections stored with their older forms are upgraded on open.
    /// Every opener in the product (server, CLI, importer) starts from this.
    public static var perfumery: Database.Options {
        var options = Database.Options()
        options.presets = CollectionSchema.presets
        return options
    }
}
