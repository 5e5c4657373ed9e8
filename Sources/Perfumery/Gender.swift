/// The catalogue's genders and the words people use for them, in one place: the normaliser
/// reads source data with it, recipe requests are checked and retrieved with it.
public enum Gender: String, Sendable, CaseIterable {
    case female, male, unisex

    private static let words: [String: Gender] = [
        "female": .female, "women": .female, "for women": .female, "feminine": .female, "f": .female,
        "male": .male, "men": .male, "for men": .male, "masculine": .male, "m": .male,
        "unisex": .unisex, "women and men": .unisex, "for women and men": .unisex, "shared": .unisex,
    ]

    /// The words for each gender other than its own name, for the schema's `synonyms`: filters
    /// and records take them as the catalogue's value.
    public static var synonyms: [String: String] {
        Dictionary(uniqueKeysWithValues: words.filter { $0.key != $0.value.rawValue }.map { ($0.key, $0.value.rawValue) })
    }

    /// The gender a word or phrase names ("Feminine", "for men"), or nil.
    public init?(word: String) {
        guard let g = Self.words[Vocabulary.fold(word)] else { return nil }
        self = g
    }

    /// The words a recipe request's `gender` takes (whole words, not the source data's "f"/"m").
    public static let requestWords = ["feminine", "masculine", "unisex", "female", "male", "women", "men"]

    /// "for women", "for men", "for women and men": how retrieval text says it.
    public var phrase: String {
        switch self {
        case .female: "for women"
        case .male: "for men"
        case .unisex: "for women and men"
        }
    }
}

/// The seasons and intensities a request may name, and what each means in the catalogue.
public enum RequestWords {
    /// "autumn" is the catalogue's "fall".
    public static let seasons: [String: String] = ["spring": "spring", "summer": "summer", "fall": "fall", "autumn": "fall", "winter": "winter"]
    public static let seasonNames = ["spring", "summer", "fall", "autumn", "winter"]
    public static let intensities = ["light", "moderate", "strong"]
}
