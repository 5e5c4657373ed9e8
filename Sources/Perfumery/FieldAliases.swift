/// Names the seed API (and people) use for perfume fields that are named otherwise in the
/// perfume schema: `{"fragrance_family": "floral"}` filters on `family`.
public enum FieldAliases {
    public static let perfume: [String: String] = ["fragrance_family": "family", "season": "seasons", "accord": "accords", "note": "notes"]

    /// The schema's name for `key` (`notes.base` keeps its tier).
    public static func canonical(_ key: String) -> String {
        let parts = key.split(separator: ".", maxSplits: 1)
        guard let head = parts.first, let name = perfume[String(head)] else { return key }
        return parts.count == 2 ? "\(name).\(parts[1])" : name
    }
}
