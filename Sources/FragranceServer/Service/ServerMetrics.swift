import FragranceStore
import Foundation
import Prometheus
import RAG
import Synchronization

/// The server's metrics, kept in its own Prometheus registry (so two servers in one test
/// process do not mix figures) and rendered by `GET /metrics` in the Prometheus text format,
/// by the conventions: every family has `# HELP` and its real `# TYPE`, counters end in
/// `_total`, durations are histograms in seconds, and the standard `process_*` families and a
/// `fragrancedb_build_info` gauge are there. Events (requests, commands, searches) are counted
/// as they happen; figures the store and model already keep (records, cache hits, texts
/// embedded) are read at scrape time, running totals among them as counters.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let openTCPConnections: Gauge
    let openHTTPConnections: Gauge
    private let cache = Mutex<[String: AnyMetric]>([:])
    /// One scrape at a time (scrape-time counters are reset and set, which must not
    /// interleave), and the collections the last one saw (a dropped one's series go).
    private let scrape = Mutex<Set<String>>([])

    struct AnyMetric: @unchecked Sendable { let value: AnyObject }

    static let latency: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                                      .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5)]
    static let work: [Double] = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000]

    public init() {
        openTCPConnections = registry.makeGauge(descriptor: Self.name("fragrancedb_tcp_open_connections", "Open line-protocol connections."))
        openHTTPConnections = registry.makeGauge(descriptor: Self.name("fragrancedb_http_open_connections", "Open HTTP connections."))
        registry.makeGauge(descriptor: Self.name("fragrancedb_build_info", "The running build: always 1, its version in the label."),
                           labels: [("version", FragranceVersion.current)]).set(to: 1)
        registry.makeGauge(descriptor: Self.name("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds."))
            .set(to: Self.processStart())
    }

    /// A family's name split as the descriptor wants it (the unit is the last word).
    static func name(_ full: String, _ help: String) -> MetricNameDescriptor {
        let cut = full.lastIndex(of: "_")!
        return MetricNameDescriptor(metricName: String(full[..<cut]), unitName: String(full[full.index(after: cut)...]), helpText: help)
    }

    private func cached<T: AnyObject>(_ key: String, _ make: () -> T) -> T {
        cache.withLock { c in
            if let m = c[key]?.value as? T { return m }
            let m = make()
            c[key] = AnyMetric(value: m)
            return m
        }
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String { name + labels.map { "|\($0)=\($1)" }.joined() }

    func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
        precondition(name.hasSuffix("_total"), "a counter's name ends in _total")
        return cached("c" + Self.key(name, labels)) { registry.makeCounter(descriptor: Self.name(name, help), labels: labels) }
    }

    func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        cached("g" + Self.key(name, labels)) { registry.makeGauge(descriptor: Self.name(name, help), labels: labels) }
    }

    func seconds(_ name: String, _ help: String, _ labels: [(String, String)]) -> DurationHistogram {
        precondition(name.hasSuffix("_seconds"))
        return cached("d" + Self.key(name, labels)) {
            registry.makeDurationHistogram(descriptor: Self.name(name, help), labels: labels, buckets: Self.latency)
        }
    }

    func values(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> ValueHistogram {
        cached("v" + Self.key(name, labels)) { registry.makeValueHistogram(descriptor: Self.name(name, help), labels: labels, buckets: Self.work) }
    }

    /// A running total the store keeps, shown as a counter: set to its current value.
    private func total(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        let c = counter(name, help, labels)
        c.reset()
        c.increment(by: value)
    }

    // MARK: Events

    /// One HTTP request, by route pattern (not raw path: ids would explode the label set).
    func httpRequest(route: String, method: String, status: Int, nanoseconds: UInt64) {
        counter("fragrancedb_http_requests_total", "HTTP requests by route pattern, method and status.",
                [("route", route), ("method", method), ("status", String(status))]).increment()
        seconds("fragrancedb_http_request_duration_seconds", "HTTP request latency by route pattern and method.",
                [("route", route), ("method", method)]).recordNanoseconds(Int64(nanoseconds))
    }

    /// One line-protocol command.
    func tcpCommand(_ name: String, ok: Bool, nanoseconds: UInt64) {
        counter("fragrancedb_tcp_commands_total", "Line-protocol commands by command and result.",
                [("command", name), ("result", ok ? "ok" : "error")]).increment()
        seconds("fragrancedb_tcp_command_duration_seconds", "Line-protocol command latency by command.", [("command", name)])
            .recordNanoseconds(Int64(nanoseconds))
    }

    /// One search's plan, from either protocol: the path the store chose and how much work it did.
    func search(_ plan: QueryPlan, collection: String) {
        counter("fragrancedb_search_path_total", "Vector searches by collection and the path the planner chose.",
                [("collection", collection), ("path", plan.path.rawValue)]).increment()
        values("fragrancedb_search_nodes_visited", "Graph nodes visited per vector search.").record(Int64(plan.nodesVisited))
        values("fragrancedb_search_distance_computations", "Distance computations per vector search.").record(Int64(plan.distanceComputations))
    }

    /// A whole search or understood query on a collection, and each stage it ran.
    func searched(collection: String, operation: String, seconds total: Double, stages: StageTimes? = nil) {
        seconds("fragrancedb_search_duration_seconds", "Search latency inside the service by collection and operation (search: SEARCH and …/search; query: QUERY and /api/v1/search/*; msearch: MSEARCH and …/search/batch, the whole request).",
                [("collection", collection), ("operation", operation)]).recordSeconds(total)
        for (stage, s) in stages?.ran ?? [] {
            seconds("fragrancedb_search_stage_duration_seconds", "Understood-query latency by collection and stage (embed, vector, keyword, preference, popularity, fusion, shaping).",
                    [("collection", collection), ("stage", stage)]).recordSeconds(s)
        }
    }

    /// An understood query answered from the result cache, or run and stored.
    func queryCache(hit: Bool) {
        if hit {
            counter("fragrancedb_query_result_cache_hits_total", "Understood queries answered from the result cache.").increment()
        } else {
            counter("fragrancedb_query_result_cache_misses_total", "Understood queries run because the result cache held no current reply.").increment()
        }
    }

    func rateLimited(_ scope: String) {
        counter("fragrancedb_rate_limited_total", "Requests refused by a rate limit, by scope.", [("scope", scope)]).increment()
    }

    func authFailure(_ surface: String) {
        counter("fragrancedb_auth_failures_total", "Failed authentications by protocol.", [("surface", surface)]).increment()
    }

    // MARK: Read at scrape time

    static let perCollection: [(kind: Character, name: String)] = [
        ("g", "fragrancedb_collection_records"), ("g", "fragrancedb_collection_tombstones"), ("g", "fragrancedb_collection_unsaved_operations"),
        ("g", "fragrancedb_collection_index_save_failing"), ("c", "fragrancedb_filter_cache_hits_total"), ("c", "fragrancedb_filter_cache_misses_total"),
    ]

    /// A dropped collection's scrape-time series leave /metrics with it.
    private func forget(collection: String) {
        let gone: [AnyObject] = cache.withLock { c in
            Self.perCollection.compactMap { kind, name in c.removeValue(forKey: String(kind) + Self.key(name, [("collection", collection)]))?.value }
        }
        for m in gone {
            if let g = m as? Gauge { registry.unregisterGauge(g) } else if let c = m as? Counter { registry.unregisterCounter(c) }
        }
    }

    func refresh(database: Database, seen: inout Set<String>) {
        let names = Set(database.collectionNames)
        for gone in seen.subtracting(names) { forget(collection: gone) }
        seen = names
        for name in names.sorted() {
            guard let c = try? database.collection(name) else { continue }
            let s = c.stats
            let l = [("collection", name)]
            gauge("fragrancedb_collection_records", "Records stored per collection.", l).set(to: Double(s.records))
            gauge("fragrancedb_collection_tombstones", "Deleted or replaced graph nodes not yet compacted, per collection.", l).set(to: Double(s.tombstones))
            gauge("fragrancedb_collection_unsaved_operations", "Logged operations the index file does not cover yet, per collection.", l)
                .set(to: Double(s.unsavedOperations))
            gauge("fragrancedb_collection_index_save_failing", "1 while the last index save of a collection failed.", l).set(to: s.indexSaveError == nil ? 0 : 1)
            let cache = c.filterCacheStats
            total("fragrancedb_filter_cache_hits_total", "Filters answered from the filter cache, per collection.", l, Double(cache.hits))
            total("fragrancedb_filter_cache_misses_total", "Filters evaluated because the cache did not hold them, per collection.", l, Double(cache.misses))
        }
        if let m = database.options.models?.stats {
            gauge("fragrancedb_model_loaded", "1 once the embedding model is loaded.").set(to: m.loaded ? 1 : 0)
            total("fragrancedb_model_texts_embedded_total", "Texts embedded by the model.", [], Double(m.textsEmbedded))
            total("fragrancedb_model_calls_total", "Calls into the embedding model.", [], Double(m.calls))
            total("fragrancedb_model_embed_seconds_total", "Time spent embedding, in seconds.", [], m.embedSeconds)
            total("fragrancedb_query_embedding_cache_hits_total", "Query embeddings answered from the cache.", [], Double(m.queryCacheHits))
            total("fragrancedb_query_embedding_cache_misses_total", "Query embeddings computed.", [], Double(m.queryCacheMisses))
        }
        process()
    }

    /// The standard process families (what Prometheus' own clients export), from /proc.
    private func process() {
        gauge("process_resident_memory_bytes", "Resident memory size in bytes.").set(to: Double(residentBytes()))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name: state is field 3, utime 14, stime 15, vsize 23.
            let f = stat[stat.index(after: close)...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if f.count > 20, let user = Double(f[11]), let system = Double(f[12]), let vsize = Double(f[20]), ticks > 0 {
                total("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", [], (user + system) / ticks)
                gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").set(to: vsize)
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            gauge("process_open_fds", "Number of open file descriptors.").set(to: Double(fds.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            gauge("process_max_fds", "Maximum number of open file descriptors.").set(to: Double(limit.rlim_cur))
        }
    }

    /// This process' start, seconds since the epoch (from /proc: boot time + start ticks).
    static func processStart() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
              let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let boot = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }).flatMap({ Double($0.dropFirst(6)) }) else {
            return Date().timeIntervalSince1970
        }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        guard f.count > 19, let ticks = Double(f[19]) else { return Date().timeIntervalSince1970 }
        return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The LLM breaker's state (0 closed, 1 half-open, 2 open) and its totals.
    func breaker(_ s: CircuitBreaker.Status) {
        gauge("fragrancedb_llm_breaker_state", "The LLM circuit breaker: 0 closed, 1 half-open, 2 open.").set(to: s.state == .closed ? 0 : s.state == .halfOpen ? 1 : 2)
        total("fragrancedb_llm_failures_total", "LLM calls that failed.", [], Double(s.totalFailures))
        total("fragrancedb_llm_successes_total", "LLM calls that succeeded.", [], Double(s.totalSuccesses))
        total("fragrancedb_llm_rejected_total", "LLM calls skipped while the breaker was open.", [], Double(s.rejected))
    }

    public func render(database: Database, breaker: CircuitBreaker? = nil, replication: InfoReply.Replication? = nil) -> String {
        scrape.withLock { seen in
            refresh(database: database, seen: &seen)
            if let breaker { self.breaker(breaker.status) }
            if let replication { self.replication(replication) }
            return registry.emitToString()
        }
    }
}

extension ServerMetrics {
    /// The role and how far behind: a replica's lag against its primary, a primary's replicas.
    func replication(_ r: InfoReply.Replication) {
        gauge("fragrancedb_replication_is_replica", "1 on a replica (read-only, following a primary), 0 on a primary.").set(to: r.role == "replica" ? 1 : 0)
        gauge("fragrancedb_replication_sequence", "The last replication log sequence written (primary) or applied (replica).").set(to: Double(r.seq))
        gauge("fragrancedb_replication_lag_operations", "Log entries the primary has that this replica has not applied (0 on a primary).")
            .set(to: Double(r.lagOperations ?? 0))
        gauge("fragrancedb_replication_lag_seconds", "Age of the oldest primary entry this replica has not applied (0 when caught up or on a primary).")
            .set(to: r.lagSeconds ?? 0)
        gauge("fragrancedb_replication_replicas", "Replicas that asked this server for its log in the last hour.").set(to: Double(r.replicas.count))
        gauge("fragrancedb_replication_following", "1 while a replica is following its primary (copied and connected).").set(to: r.state == "following" ? 1 : 0)
    }
}

extension DurationHistogram {
    func recordSeconds(_ s: Double) { recordNanoseconds(Int64(s * 1e9)) }
}
