import Foundation
import HNSW

public struct SearchRequest: Sendable {
    /// The query vector; ignored when `text` is set.
    public var vector: [Float]
    /// A text query, embedded with the collection's embedder.
    public var text: String?
    public var k: Int
    /// Beam width for graph search; the collection's ef_search when nil.
    public var ef: Int?
    /// A filter in the grammar of `schemas/filter.md`.
    public var filter: String?
    /// Force an exact scan (ground truth, or when recall must be 1).
    public var exact: Bool

    public init(text: String, k: Int = 10, ef: Int? = nil, filter: String? = nil, exact: Bool = false) {
        self.init(vector: [], k: k, ef: ef, filter: filter, exact: exact)
        self.text = text
    }

    public init(vector: [Float], k: Int = 10, ef: Int? = nil, filter: String? = nil, exact: Bool = false) {
        self.vector = vector
        self.k = k
        self.ef = ef
        self.filter = filter
        self.exact = exact
    }
}

public struct SearchHit: Sendable, Equatable {
    public var id: String
    /// Metric distance, smaller is closer (cosine: 1 − cos, dot: −dot, l2: squared distance).
    public var distance: Float
    /// Higher is better: cosine similarity, the dot product, or −distance for l2.
    public var score: Float
}

/// What ran and why: returned with every search (`explain` shows all of it).
public struct QueryPlan: Sendable, Equatable {
    public enum Path: String, Sendable {
        /// Distance to every allowed record.
        case exactScan = "exact_scan"
        /// Graph search; with a filter, allowed records only in the results.
        case hnsw
        /// Graph search returned fewer than k of the allowed records; an exact scan finished it.
        case hnswThenExact = "hnsw_then_exact"
    }

    public var path: Path
    public var exact: Bool
    public var reason: String
    /// Live records in the collection.
    public var records: Int
    /// Records the filter allows, as an independence-assuming estimate and as counted.
    public var estimatedCandidates: Double
    public var candidates: Int
    public var ef: Int
    public var nodesVisited: Int
    public var distanceComputations: Int
}

public struct SearchResult: Sendable {
    public var hits: [SearchHit]
    public var plan: QueryPlan
}

/// Chooses between an exact scan of the allowed records and filtered graph search.
///
/// Exact costs one distance per allowed record (c). Filtered HNSW keeps searching until it
/// holds ef allowed results, so it computes about `graphCostFactor · ef / s` distances at
/// selectivity s = c / n. Exact is chosen when c ≤ graphCostFactor · ef · n / c, i.e. when
/// c² ≤ graphCostFactor · ef · n. The factor is measured by `index-bench` (its "planner
/// crossover" table; Benchmarks/README.md): on 100k × 384-d, at ef 64 and at the default
/// 128, exact was 2-3x faster at 4,929 allowed records and graph 1.4-2x faster at 9,933, so
/// they cross near 7,000: c²/(ef·n) ≈ 4 at ef 128. (Runs on the shared 2-core machine
/// differed by up to 2x, so the factor is rounded towards exact, whose recall is 1.)
///
/// A filtered graph search runs under a `FilterGuard`: if the query's neighbourhood holds less
/// than half the collection's share of allowed records (the filter is anti-correlated with
/// the query), or the search costs more distances than scanning would, it stops and the
/// planner scans instead. Recall stays ≥ 0.95 in those cases at no more than twice a scan.
public struct QueryPlanner: Sendable {
    public var graphCostFactor: Double = 4
    /// Below this many records an exact scan is always cheap enough.
    public var alwaysExactBelow = 2048
    /// Guard: the probe is the first `max(probeEfMultiple · ef, probeMinimum)` distances…
    public var probeEfMultiple = 4
    public var probeMinimum = 256
    /// …and anti-correlation is an allowed share below this fraction of the global share.
    public var anticorrelationRatio = 0.5
    /// Off only to measure the raw filtered graph search (index-bench).
    public var guardsFilteredSearch = true
    /// Reuse the evaluation of a filter text seen since the last write (off: measure the cold cost).
    public var usesFilterCache = true

    public init() {}

    func prefersExact(candidates c: Int, records n: Int, ef: Int) -> Bool {
        if c <= alwaysExactBelow { return true }
        return Double(c) * Double(c) <= graphCostFactor * Double(ef) * Double(n)
    }
}

extension Collection {
    public func search(_ query: SearchRequest, planner: QueryPlanner = .init()) throws -> SearchResult {
        var request = query
        if let text = request.text {
            guard text.utf8.count <= 65536 else { throw StoreError(.badRequest, "query text is over 64 KiB") }
            request.vector = try embed([text])[0]
        }
        guard request.vector.count == config.dimension else {
            throw StoreError(.dimensionMismatch, "query vector has \(request.vector.count) dimensions, collection '\(config.name)' has \(config.dimension)")
        }
        guard request.vector.allSatisfy(\.isFinite) else { throw StoreError(.badRequest, "query vector has a NaN or infinite component") }
        if let p = config.metric.problem(with: request.vector, isQuery: true) {
            throw StoreError(.badRequest, "query vector \(p)")
        }
        guard (1...10_000).contains(request.k) else { throw StoreError(.badRequest, "k must be 1 to 10000, got \(request.k)") }
        if let ef = request.ef, !(1...10_000).contains(ef) { throw StoreError(.badRequest, "ef must be 1 to 10000, got \(ef)") }

        return try lock.read {
            let n = attributes.liveCount
            let ef = max(request.ef ?? config.hnsw.efSearch, request.k)
            var allowed: Bitset?
            var estimated = Double(n), candidates = n
            if let filter = request.filter {
                let e = try evaluate(filter, cached: planner.usesFilterCache)
                allowed = e.allowed
                estimated = e.estimated
                candidates = e.allowed.count
            }
            var plan = QueryPlan(path: .exactScan, exact: true, reason: "", records: n, estimatedCandidates: estimated,
                                 candidates: candidates, ef: ef, nodesVisited: 0, distanceComputations: 0)
            var hits: [HNSWHit]
            if request.exact {
                plan.reason = "exact search requested"
                hits = exactScan(request, allowed, &plan)
            } else if candidates == 0 {
                plan.reason = "no record matches the filter"
                hits = []
            } else if planner.prefersExact(candidates: candidates, records: n, ef: ef) {
                plan.reason = allowed == nil
                    ? "\(n) records: scanning is as cheap as the graph"
                    : "\(candidates) of \(n) records allowed: scanning them beats filtered graph search"
                hits = exactScan(request, allowed, &plan)
            } else {
                let share = Double(candidates) / Double(max(n, 1))
                let limits = FilterGuard(maxDistanceComputations: candidates,
                                         probeWindow: max(planner.probeEfMultiple * ef, planner.probeMinimum),
                                         minProbeShare: share * planner.anticorrelationRatio)
                let (h, stats) = index.search(request.vector, k: request.k, ef: ef, filter: allowed,
                                              guard: planner.guardsFilteredSearch ? limits : nil)
                plan.path = .hnsw
                plan.exact = false
                plan.nodesVisited = stats.expanded
                plan.distanceComputations = stats.distanceComputations
                plan.reason = allowed == nil ? "graph search" : "\(candidates) of \(n) records allowed: filtered graph search"
                hits = h
                switch stats.outcome {
                case .complete: break
                case .sparseNeighbourhood:
                    plan.reason += String(format: "; only %d of the first %d nodes near the query were allowed (%.1f%% vs %.1f%% overall: the filter is anti-correlated with the query)",
                                          stats.allowedInProbe, limits.probeWindow,
                                          100 * Double(stats.allowedInProbe) / Double(limits.probeWindow), 100 * share)
                case .overBudget:
                    plan.reason += "; it cost more distances than a scan would"
                }
                if stats.outcome != .complete {
                    plan.path = .hnswThenExact
                    plan.exact = true
                    plan.reason += ", so an exact scan answered"
                    hits = exactScan(request, allowed, &plan)
                } else if hits.count < min(request.k, candidates) {
                    // The beam ran out before k allowed records; never return fewer than exist.
                    plan.path = .hnswThenExact
                    plan.exact = true
                    plan.reason += "; it found \(hits.count) < k, so an exact scan finished"
                    hits = exactScan(request, allowed, &plan)
                }
            }
            return SearchResult(hits: hits.compactMap(hit), plan: plan)
        }
    }

    private func exactScan(_ request: SearchRequest, _ allowed: Bitset?, _ plan: inout QueryPlan) -> [HNSWHit] {
        let (hits, stats) = index.exactSearch(request.vector, k: request.k, filter: allowed)
        plan.distanceComputations += stats.distanceComputations
        return hits
    }

    private func hit(_ h: HNSWHit) -> SearchHit? {
        guard Int(h.label) < idOfRid.count, let id = idOfRid[Int(h.label)] else { return nil }
        let score: Float
        switch config.metric {
        case .cosine: score = 1 - h.distance
        case .dot, .l2: score = -h.distance
        }
        return SearchHit(id: id, distance: h.distance, score: score)
    }
}
