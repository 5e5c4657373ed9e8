import Foundation
import Synchronization

/// Which material stands for a note: the materials catalogue's names and synonyms matched on
/// whole words ("bergamot" → Bergamot oil), preferring the plainest name, skipping fractions
/// and reaction products; remembered once found.
public final class NoteMaterials: Sendable {
    let catalog: MaterialCatalog
    /// Folded name words of each material, for whole-word matching.
    let names: [(id: String, name: String, words: [String], synonyms: [[String]])]
    /// word -> indexes into `names` whose name or synonyms hold it.
    let byWord: [String: [Int]]
    private let cache = Mutex<[String: String?]>([:])
    static let unwanted = ["terpene", "terpenes", "acid", "oxidized", "reaction", "fraction", "residue", "distillate", "alcoholate", "ester", "esters"]

    public init(catalog: MaterialCatalog) {
        self.catalog = catalog
        names = catalog.byId.values.sorted { $0.id < $1.id }.map { m in
            (m.id, m.name, Self.words(m.name), m.synonyms.prefix(10).map(Self.words))
        }
        var index: [String: [Int]] = [:]
        for (i, n) in names.enumerated() {
            for w in Set(n.words + n.synonyms.flatMap { $0 }) { index[w, default: []].append(i) }
        }
        byWord = index
    }

    static func words(_ s: String) -> [String] {
        Vocabulary.fold(s).split { !$0.isLetter && !$0.isNumber && $0 != "-" }.map(String.init)
    }

    public func material(for note: String) -> MaterialFacts? {
        let key = Vocabulary.fold(note)
        if let hit = cache.withLock({ $0[key] }) { return hit.flatMap { catalog.find(id: $0, name: nil) } }
        let found = search(key)
        cache.withLock { $0[key] = found?.id }
        return found
    }

    func search(_ note: String) -> MaterialFacts? {
        // "ylang-ylang" also as "ylang ylang"; "agarwood (oud)" as "agarwood".
        let plain = note.replacingOccurrences(of: #"\s*\(.*\)"#, with: "", options: .regularExpression)
        let needles = Array(Set([plain, plain.replacingOccurrences(of: "-", with: " "), plain.replacingOccurrences(of: " notes", with: "")]))
            .map(Self.words).filter { !$0.isEmpty }
        var best: (score: Int, id: String)?
        let pool = Set(needles.compactMap { $0.first }.flatMap { byWord[$0] ?? [] }).sorted()
        for (id, _, words, synonyms) in pool.map({ names[$0] }) {
            guard let m = catalog.byId[id], !m.prohibited else { continue }
            if words.contains(where: Self.unwanted.contains) { continue }
            for needle in needles {
                for (k, candidate) in ([words] + synonyms).enumerated() {
                    guard let at = Self.find(needle, in: candidate) else { continue }
                    // Lower is better: exact name, then name starting with the note, then extra words; synonyms cost more.
                    let score = (candidate.count - needle.count) * 10 + (at == 0 ? 0 : 5) + (k == 0 ? 0 : 3)
                    if best == nil || score < best!.score || (score == best!.score && id < best!.id) { best = (score, id) }
                }
            }
        }
        return best.flatMap { catalog.find(id: $0.id, name: nil) }
    }

    static func find(_ needle: [String], in hay: [String]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }
}

/// Usual tiers of notes, from the bundled notes.jsonl (how often each note is listed top,
/// heart or base across the catalogue).
public enum NoteTiers {
    public static func bundled(vocabulary: Vocabulary) throws -> [String: String] {
        guard let url = Bundle.module.url(forResource: "notes.jsonl", withExtension: "zst") else { return [:] }
        var out: [String: String] = [:]
        for row in try RowReader.rows(try RowReader.bytes(of: url), format: .jsonl) {
            guard let o = try? row.object.get(), let note = o["note"] as? String, let counts = o["tier_counts"] as? [String: Any] else { continue }
            let tiers = ["top", "heart", "base"].map { ($0, (counts[$0] as? NSNumber)?.intValue ?? 0) }
            guard let best = tiers.max(by: { $0.1 < $1.1 }), best.1 > 0 else { continue }
            out[vocabulary.canonicalNote(note)] = best.0
        }
        return out
    }
}
