import Foundation
import FragranceStore

/// What PerfumeSearch does to fused hits before cutting them to k: a quality prior (a
/// well-known, well-described perfume before a sparse one), and near-duplicates collapsed into
/// one hit (Elasticsearch's `collapse`): the same normalised name and notes, or the same vector.
public enum ResultShaping {
    /// How a record's prior was made, for `explain`.
    public struct Prior: Sendable, Equatable {
        /// Bayesian-averaged rating mapped to 0…1 (3 → 0, 5 → 1).
        public var rating: Double
        /// log10(1 + votes) / 4, at most 1.
        public var votes: Double
        /// Notes by tier, accords, gender: 0…1.
        public var completeness: Double
        /// 0.4 rating + 0.2 votes + 0.4 completeness.
        public var prior: Double
        /// What the fused score was multiplied by: 1 + weight × (2 × prior − 1).
        public var factor: Double
    }

    /// Votes a rating needs before it counts fully, and the mean it is pulled towards
    /// (Fragrantica's ratings centre near 3.9): 5.0 from 2 votes is ~3.94, not a classic.
    static let priorVotes = 100.0, meanRating = 3.9

    public static func prior(_ r: Record, weight: Double) -> Prior {
        func number(_ k: String) -> Double? {
            switch r.attributes[k] {
            case .int(let v)?: Double(v)
            case .float(let v)?: v
            default: nil
            }
        }
        let votes = max(number("votes") ?? 0, 0)
        let rating = number("rating").map { (votes * $0 + priorVotes * meanRating) / (votes + priorVotes) } ?? meanRating
        let ratingPart = min(max((rating - 3) / 2, 0), 1)
        let votesPart = min(log10(1 + votes) / 4, 1)
        var completeness = 0.0
        if case .tiered(let t)? = r.attributes["notes"] {
            let tiers = ["top", "heart", "base"].filter { !(t[$0] ?? []).isEmpty }.count
            completeness += tiers >= 2 ? 0.5 : (t.values.contains { !$0.isEmpty } ? 0.25 : 0)
        }
        if case .strings(let a)? = r.attributes["accords"], !a.isEmpty { completeness += a.count >= 3 ? 0.3 : 0.15 }
        if case .string(let g)? = r.attributes["gender"], !g.isEmpty { completeness += 0.2 }
        let prior = 0.4 * ratingPart + 0.2 * votesPart + 0.4 * completeness
        return Prior(rating: round(ratingPart), votes: round(votesPart), completeness: round(completeness), prior: round(prior),
                     factor: round(1 + weight * (2 * prior - 1)))
    }

    /// What makes two records the same perfume for collapsing: the normalised name with the
    /// sorted notes, or the vector itself.
    public static func keys(_ r: Record) -> [String] {
        var out: [String] = []
        if case .string(let name)? = r.attributes["name"] {
            let n = alphanumerics(name.lowercased())
            var notes: [String] = []
            if case .tiered(let t)? = r.attributes["notes"] { notes = Set(t.values.flatMap { $0 }.map { $0.lowercased() }).sorted() }
            if !n.isEmpty { out.append("name:" + n + "|" + notes.joined(separator: ",")) }
        }
        if let v = r.vector, !v.isEmpty {
            var h: UInt64 = 0xcbf29ce484222325
            for x in v { h = (h ^ UInt64(x.bitPattern)) &* 0x100000001b3 }
            out.append("vector:\(h)")
        }
        return out
    }

    /// The letters, marks and digits of `s` (CharacterSet.alphanumerics: general categories L*,
    /// M* and N*), from the scalars' own properties: Foundation's set lookup, one String per
    /// scalar, was most of an understood search's shaping time.
    static func alphanumerics(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u.isASCII {
                let v = u.value
                if (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) { out.append(u) }
                continue
            }
            switch u.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                 .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
                out.append(u)
            default: break
            }
        }
        return String(out)
    }

    static func round(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }

    /// Reorders by the prior (when weight > 0) and collapses (when asked); returns the hits
    /// kept, best first, with the ids each one stands for.
    public static func shape(_ hits: [HybridHit], records: [Record?], weight: Double, collapse: Bool)
        -> (hits: [HybridHit], collapsed: [String: [String]], priors: [String: Prior]) {
        var priors: [String: Prior] = [:]
        var scored: [(hit: HybridHit, score: Double, index: Int, record: Record?)] = []
        for (i, (h, r)) in zip(hits, records).enumerated() {
            var s = h.score
            if weight > 0, let r {
                let p = prior(r, weight: weight)
                priors[h.id] = p
                s *= p.factor
            }
            scored.append((h, s, i, r))
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        var kept: [HybridHit] = []
        var collapsed: [String: [String]] = [:]
        var owner: [String: String] = [:]   // key -> id of the hit that holds it
        for s in scored {
            var h = s.hit
            h.score = s.score
            if collapse, let r = s.record {
                let ks = keys(r)
                if let holder = ks.lazy.compactMap({ owner[$0] }).first {
                    collapsed[holder, default: []].append(h.id)
                    continue
                }
                for k in ks { owner[k] = h.id }
            }
            kept.append(h)
        }
        return (kept, collapsed, priors)
    }

    /// How alike two hits are for diversity, 0…1: half the cosine of their vectors, a quarter
    /// for the same house, a quarter for the overlap (Jaccard) of their accords.
    public static func similarity(_ a: Record, _ b: Record) -> Double {
        var cosine = 0.0
        if let x = a.vector, let y = b.vector, x.count == y.count, !x.isEmpty {
            var dot: Float = 0, nx: Float = 0, ny: Float = 0
            for i in x.indices { dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i] }
            if nx > 0, ny > 0 { cosine = Double(dot / (nx.squareRoot() * ny.squareRoot())) }
        }
        var house = 0.0
        if case .string(let p)? = a.attributes["brand"], case .string(let q)? = b.attributes["brand"], !p.isEmpty, p.lowercased() == q.lowercased() { house = 1 }
        var overlap = 0.0
        if case .strings(let p)? = a.attributes["accords"], case .strings(let q)? = b.attributes["accords"] {
            let x = Set(p.map { $0.lowercased() }), y = Set(q.map { $0.lowercased() })
            if !x.union(y).isEmpty { overlap = Double(x.intersection(y).count) / Double(x.union(y).count) }
        }
        return 0.5 * max(cosine, 0) + 0.25 * house + 0.25 * overlap
    }

    /// Maximal marginal relevance (Carbonell & Goldstein, 1998): picks k hits one at a time,
    /// each the one with the best λ·relevance − (1 − λ)·(its similarity to the closest hit already
    /// picked); relevance is the score over the best score. λ = 1 keeps the order, lower values
    /// trade relevance for variety (houses, accord profiles, vectors). Cost: k × n similarities.
    public static func diversify(_ hits: [HybridHit], records: [String: Record], lambda: Double, k: Int) -> [HybridHit] {
        guard lambda < 1, hits.count > 1 else { return Array(hits.prefix(k)) }
        let top = hits.map(\.score).max() ?? 0
        var left = Array(hits.indices), picked: [Int] = []
        var closest = [Double](repeating: 0, count: hits.count)   // max similarity to a picked hit
        while picked.count < k, !left.isEmpty {
            var best = 0, bestValue = -Double.infinity
            for (j, i) in left.enumerated() {
                let relevance = top > 0 ? hits[i].score / top : 0
                let value = lambda * relevance - (1 - lambda) * closest[i]
                if value > bestValue { bestValue = value; best = j }
            }
            let chosen = left.remove(at: best)
            picked.append(chosen)
            guard let r = records[hits[chosen].id] else { continue }
            for i in left { if let o = records[hits[i].id] { closest[i] = max(closest[i], similarity(r, o)) } }
        }
        return picked.map { hits[$0] }
    }
}
