import Foundation
import FragranceStore

/// The data files that steer normalising and deriving (Resources/, editable without
/// recompiling): note spelling variants, and the rules that fill seasons, families and
/// intensity when a source lacks them.
public struct Vocabulary: Sendable {
    /// Case-folded variant -> case-folded canonical note name.
    public var noteSynonyms: [String: String]
    public var derivations: Derivations

    public struct Derivations: Codable, Sendable {
        public struct Seasons: Codable, Sendable {
            public var rank_weights: [Double]
            public var keep_ratio: Double
            public var accords: [String: [String: Double]]
        }
        public struct Families: Codable, Sendable {
            public var label_words: [String]
            public var accords: [String: String]
        }
        public struct Intensity: Codable, Sendable {
            public var min_votes: Int
            public var sillage_scale: [String: Double]
            public var longevity_scale: [String: Double]
            public var light_below: Double
            public var strong_from: Double
            public var concentration: [[String]]
        }
        public var seasons: Seasons
        public var families: Families
        public var intensity: Intensity
    }

    public init(noteSynonyms: [String: String], derivations: Derivations) {
        self.noteSynonyms = noteSynonyms
        self.derivations = derivations
    }

    /// The files shipped in the Perfumery bundle, optionally extended by a user's synonym file
    /// (`{"synonyms": {"variant": "canonical"}}`).
    public static func bundled(extraSynonyms: URL? = nil) throws -> Vocabulary {
        var v = try Vocabulary(synonymsJSON: try resource("note_synonyms", "json"), derivationsJSON: try resource("derivations", "json"))
        if let extraSynonyms {
            let extra = try Vocabulary.synonyms(from: Data(contentsOf: extraSynonyms), name: extraSynonyms.lastPathComponent)
            v.noteSynonyms.merge(extra) { _, new in new }
        }
        return v
    }

    public init(synonymsJSON: Data, derivationsJSON: Data) throws {
        noteSynonyms = try Vocabulary.synonyms(from: synonymsJSON, name: "note_synonyms.json")
        do { derivations = try JSONDecoder().decode(Derivations.self, from: derivationsJSON) }
        catch { throw StoreError(.badRequest, "derivations.json: \(error)") }
    }

    static func synonyms(from data: Data, name: String) throws -> [String: String] {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let table = o["synonyms"] as? [String: String] else {
            throw StoreError(.badRequest, "\(name) must be {\"synonyms\": {\"variant\": \"canonical\", …}}")
        }
        var out: [String: String] = [:]
        for (k, v) in table { out[Vocabulary.fold(k)] = Vocabulary.fold(v) }
        return out
    }

    static func resource(_ name: String, _ ext: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext) else {
            throw StoreError(.io, "\(name).\(ext) is missing from the Perfumery bundle")
        }
        return try Data(contentsOf: url)
    }

    /// Trimmed, inner whitespace collapsed, lower-cased.
    public static func fold(_ s: String) -> String {
        if let ascii = foldASCII(s) { return ascii }
        return s.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
    }

    /// `fold` for printable ASCII (nearly every note, label and name), byte by byte: the
    /// Unicode-aware path was a tenth of a catalogue import's row checks. Nil otherwise.
    static func foldASCII(_ s: String) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var space = false
        for b in s.utf8 {
            guard (0x20...0x7E).contains(b) else { return nil }
            if b == 0x20 { space = !out.isEmpty; continue }
            if space { out.append(0x20); space = false }
            out.append((0x41...0x5A).contains(b) ? b | 0x20 : b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A note's canonical name: folded, then through the synonym table.
    public func canonicalNote(_ s: String) -> String {
        let f = Vocabulary.fold(s)
        return noteSynonyms[f] ?? f
    }
}
