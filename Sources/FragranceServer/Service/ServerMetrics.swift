import CoreMetrics
import FragranceStore
import Foundation
import Metrics
import Prometheus
import RAG
import Synchronization

/// The server's metrics, kept in its own Prometheus registry (so two servers in one test
/// process do not mix figures) and rendered by `GET /metrics`. Made through swift-metrics
/// handles with an explicit factory, so `MetricsSystem` stays free for the host program.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let openTCPConnections: Meter
    let openHTTPConnections: Meter
    private let cache = Mutex<[String: AnyMetric]>([:])

    struct AnyMetric: @unchecked Sendable { let value: AnyObject }

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                                   .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5)]
        f.defaultDurationHistogramBuckets = latency
        f.defaultValueHistogramBuckets = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000]
        factory = f
        openTCPConnections = Meter(label: "fragrancedb_tcp_open_connections", factory: f)
        openHTTPConnections = Meter(label: "fragrancedb_http_open_connections", factory: f)
    }

    private func cached<T: AnyObject>(_ key: String, _ make: () -> T) -> T {
        cache.withLock { c in
            if let m = c[key]?.value as? T { return m }
            let m = make()
            c[key] = AnyMetric(value: m)
            return m
        }
    }

    func counter(_ label: String, _ dims: [(String, String)]) -> CoreMetrics.Counter {
        cached(label + dims.map { "|\($0)=\($1)" }.joined()) { CoreMetrics.Counter(label: label, dimensions: dims, factory: factory) }
    }

    func timer(_ label: String, _ dims: [(String, String)]) -> Metrics.Timer {
        cached("t:" + label + dims.map { "|\($0)=\($1)" }.joined()) { Metrics.Timer(label: label, dimensions: dims, factory: factory) }
    }

    func recorder(_ label: String, _ dims: [(String, String)]) -> CoreMetrics.Recorder {
        cached("r:" + label + dims.map { "|\($0)=\($1)" }.joined()) { CoreMetrics.Recorder(label: label, dimensions: dims, aggregate: true, factory: factory) }
    }

    func gauge(_ label: String, _ dims: [(String, String)]) -> CoreMetrics.Gauge {
        cached("g:" + label + dims.map { "|\($0)=\($1)" }.joined()) { CoreMetrics.Gauge(label: label, dimensions: dims, factory: factory) }
    }

    /// One HTTP request, by route pattern (not raw path: ids would explode the label set).
    func httpRequest(route: String, method: String, status: Int, nanoseconds: UInt64) {
        counter("fragrancedb_http_requests_total", [("route", route), ("method", method), ("status", String(status))]).increment()
        timer("fragrancedb_http_request_duration_seconds", [("route", route), ("method", method)]).recordNanoseconds(Int64(nanoseconds))
    }

    /// One line-protocol command.
    func tcpCommand(_ name: String, ok: Bool, nanoseconds: UInt64) {
        counter("fragrancedb_tcp_commands_total", [("command", name), ("result", ok ? "ok" : "error")]).increment()
        timer("fragrancedb_tcp_command_duration_seconds", [("command", name)]).recordNanoseconds(Int64(nanoseconds))
    }

    /// One search, from either protocol: the plan the store chose and how much work it did.
    func search(_ plan: QueryPlan) {
        counter("fragrancedb_search_path_total", [("path", plan.path.rawValue)]).increment()
        recorder("fragrancedb_search_nodes_visited", []).record(plan.nodesVisited)
        recorder("fragrancedb_search_distance_computations", []).record(plan.distanceComputations)
    }

    func rateLimited(_ scope: String) {
        counter("fragrancedb_rate_limited_total", [("scope", scope)]).increment()
    }

    func authFailure(_ surface: String) {
        counter("fragrancedb_auth_failures_total", [("surface", surface)]).increment()
    }

    /// Figures read at scrape time rather than counted as they happen.
    func refresh(database: Database) {
        for name in database.collectionNames {
            guard let c = try? database.collection(name) else { continue }
            let s = c.stats
            gauge("fragrancedb_collection_records", [("collection", name)]).record(s.records)
            gauge("fragrancedb_collection_tombstones", [("collection", name)]).record(s.tombstones)
            gauge("fragrancedb_collection_unsaved_operations", [("collection", name)]).record(Int(s.unsavedOperations))
            gauge("fragrancedb_collection_index_save_failing", [("collection", name)]).record(s.indexSaveError == nil ? 0 : 1)
            let cache = c.filterCacheStats
            gauge("fragrancedb_filter_cache_hits", [("collection", name)]).record(cache.hits)
            gauge("fragrancedb_filter_cache_misses", [("collection", name)]).record(cache.misses)
        }
        if let m = database.options.models?.stats {
            gauge("fragrancedb_model_loaded", []).record(m.loaded ? 1 : 0)
            gauge("fragrancedb_model_texts_embedded", []).record(m.textsEmbedded)
            gauge("fragrancedb_model_calls", []).record(m.calls)
            gauge("fragrancedb_model_embed_seconds", []).record(m.embedSeconds)
            gauge("fragrancedb_query_embedding_cache_hits", []).record(m.queryCacheHits)
            gauge("fragrancedb_query_embedding_cache_misses", []).record(m.queryCacheMisses)
        }
        gauge("fragrancedb_resident_bytes", []).record(residentBytes())
    }

    /// The LLM breaker's state (0 closed, 1 half-open, 2 open) and counters.
    func breaker(_ s: CircuitBreaker.Status) {
        gauge("fragrancedb_llm_breaker_state", []).record(s.state == .closed ? 0 : s.state == .halfOpen ? 1 : 2)
        gauge("fragrancedb_llm_failures", []).record(s.totalFailures)
        gauge("fragrancedb_llm_successes", []).record(s.totalSuccesses)
        gauge("fragrancedb_llm_rejected", []).record(s.rejected)
    }

    public func render(database: Database, breaker: CircuitBreaker? = nil) -> String {
        refresh(database: database)
        if let breaker { self.breaker(breaker.status) }
        return registry.emitToString()
    }
}
