import Foundation
import XCTest
import TestSupport
@testable import FragranceStore
import HNSW

/// Seeded perfume-like records: vectors in clusters, attributes drawn independently, with
/// some values missing as in the real catalogue.
enum Synthetic {
    static let families = ["floral", "woody", "citrus", "oriental", "fougere", "chypre", "gourmand", "aquatic"]
    static let seasons = ["spring", "summer", "fall", "winter"]
    static let accords = (0..<20).map { "accord\($0)" }
    static let notes = (0..<60).map { "Note \($0)" }

    static func records(count: Int, dim: Int, seed: UInt64 = 1, clusters: Int = 16) -> [Record] {
        var rng = SplitMix(seed)
        let centres = (0..<clusters).map { _ in (0..<dim).map { _ in rng.gaussian() } }
        return (0..<count).map { i in
            let c = centres[i % clusters]
            var r = Record(id: "p\(i)", vector: c.map { $0 + 0.7 * rng.gaussian() })
            r.attributes["name"] = .string("Perfume \(i)")
            r.attributes["family"] = .string(rng.pick(families))
            r.attributes["seasons"] = .strings(seasons.filter { _ in rng.chance(0.4) })
            r.attributes["intensity"] = .string(rng.pick(["light", "moderate", "strong"]))
            if rng.chance(0.7) { r.attributes["gender"] = .string(rng.pick(["female", "male", "unisex"])) }
            if rng.chance(0.8) { r.attributes["year"] = .int(Int64(1950 + Int(rng.next() % 75))) }
            r.attributes["brand"] = .string("Brand \(rng.next() % 40)")
            r.attributes["accords"] = .strings(Array(Set((0..<4).map { _ in rng.pick(accords) })).sorted())
            var tiers: [String: [String]] = [:]
            for t in ["top", "heart", "base"] { tiers[t] = Array(Set((0..<3).map { _ in rng.pick(notes) })).sorted() }
            r.attributes["notes"] = .tiered(tiers)
            if rng.chance(0.9) { r.attributes["rating"] = .float(Double(100 + Int(rng.next() % 400)) / 100) }
            return r
        }
    }

    static func query(dim: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        return (0..<dim).map { _ in rng.gaussian() }
    }
}

func cosineDistance(_ a: [Float], _ b: [Float]) -> Float {
    var d: Float = 0, na: Float = 0, nb: Float = 0
    for i in a.indices { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
    return 1 - d / (na.squareRoot() * nb.squareRoot())
}

/// Brute-force filter semantics, written from schemas/filter.md independently of the store.
enum Oracle {
    static func matches(_ r: Record, _ e: FilterExpression) -> Bool {
        switch e {
        case .and(let parts): return parts.allSatisfy { matches(r, $0) }
        case .or(let parts): return parts.contains { matches(r, $0) }
        case .not(let inner): return !matches(r, inner)
        case .predicate(let p): return matches(r, p)
        }
    }

    static func fold(_ s: String) -> String { s.trimmingCharacters(in: .whitespaces).lowercased() }

    static func matches(_ r: Record, _ p: FilterPredicate) -> Bool {
        func members() -> [String]? {
            switch r.attributes[p.field] {
            case .strings(let a): return a.map(fold)
            case .tiered(let t): return (p.tier.map { t[$0] ?? [] } ?? t.values.flatMap { $0 }).map(fold)
            default: return nil
            }
        }
        let targets = p.values.map { v -> String in if case .string(let s) = v { return fold(s) } else { return "" } }
        switch p.op {
        case .contains, .containsAny: return (members() ?? []).contains { targets.contains($0) }
        case .containsAll: let m = Set(members() ?? []); return targets.allSatisfy { m.contains($0) }
        default: break
        }
        let nums = p.values.map { v -> Double in if case .number(let d) = v { return d } else { return .nan } }
        switch r.attributes[p.field] {
        case .string(let s0):
            let s = fold(s0)
            switch p.op {
            case .eq: return s == targets[0]
            case .ne: return s != targets[0]
            case .lt: return s < targets[0]
            case .le: return s <= targets[0]
            case .gt: return s > targets[0]
            case .ge: return s >= targets[0]
            case .in: return targets.contains(s)
            case .between: return s >= targets[0] && s <= targets[1]
            default: return false
            }
        case .int(let i): return compare(Double(i), p.op, nums)
        case .float(let d): return compare(d, p.op, nums)
        default: return false   // missing value: no predicate holds
        }
    }

    static func compare(_ x: Double, _ op: FilterPredicate.Op, _ t: [Double]) -> Bool {
        switch op {
        case .eq: return x == t[0]
        case .ne: return x != t[0]
        case .lt: return x < t[0]
        case .le: return x <= t[0]
        case .gt: return x > t[0]
        case .ge: return x >= t[0]
        case .in: return t.contains(x)
        case .between: return x >= t[0] && x <= t[1]
        default: return false
        }
    }
}
