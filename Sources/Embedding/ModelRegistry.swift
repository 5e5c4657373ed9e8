import Foundation
import Synchronization

/// The process's one embedding model, loaded on first use and shared by every request (the
/// seed's "model manager"). A missing model is an error only for the work that needs it.
public final class ModelRegistry: Sendable {
    public struct Stats: Sendable, Equatable {
        public var directory: String
        public var loaded: Bool
        /// Bytes of weights mapped from disk (shared with the page cache).
        public var mappedBytes: Int
        public var loadSeconds: Double
        public var calls: Int
        public var textsEmbedded: Int
        public var lastError: String?
        /// Single-text calls (queries) answered from the cache, and those that ran the model.
        /// Time spent running the model, over all calls.
        public var embedSeconds = 0.0
        public var queryCacheHits = 0
        public var queryCacheMisses = 0
    }

    public let directory: URL
    /// Arithmetic for vectors that get stored (bulk loads); queries always run float32.
    public let storagePrecision: Precision
    private let state = Mutex<(embedder: TextEmbedder?, loadSeconds: Double, error: String?)>((nil, 0, nil))
    private let calls = Atomic<Int>(0)
    private let embedNanoseconds = Atomic<Int>(0)
    private let texts = Atomic<Int>(0)

    /// Recent single texts (search queries) and their vectors: people repeat queries, and a
    /// query's embedding costs more than the search itself. Cleared least-recently-used first.
    private let queryCache = Mutex(QueryCache(capacity: 4096))

    struct QueryCache {
        let capacity: Int
        var vectors: [String: (vector: [Float], used: UInt64)] = [:]
        var clock: UInt64 = 0
        var hits = 0, misses = 0

        mutating func get(_ text: String) -> [Float]? {
            clock &+= 1
            guard var e = vectors[text] else { misses += 1; return nil }
            hits += 1
            e.used = clock
            vectors[text] = e
            return e.vector
        }

        mutating func put(_ text: String, _ v: [Float]) {
            guard capacity > 0, text.utf8.count <= 1024 else { return }
            if vectors.count >= capacity {
                // Drop the oldest eighth at once, so eviction is rare rather than per insert.
                let cut = vectors.values.map(\.used).sorted()[capacity / 8]
                vectors = vectors.filter { $0.value.used > cut }
            }
            vectors[text] = (v, clock)
        }
    }

    public init(directory: URL, storagePrecision: Precision = .int8) {
        self.directory = directory
        self.storagePrecision = storagePrecision
    }

    /// The loaded model; loads it on the first call. Throws `EmbeddingError.modelMissing`
    /// (with how to install it) when the files are not there; a later call tries again.
    public func embedder() throws -> TextEmbedder {
        try state.withLock { s in
            if let e = s.embedder { return e }
            let t0 = DispatchTime.now().uptimeNanoseconds
            do {
                let e = try TextEmbedder(directory: directory)
                s.embedder = e
                s.loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                s.error = nil
                return e
            } catch {
                s.error = "\(error)"
                throw error
            }
        }
    }

    /// Embeds texts with the shared model, counting the use. Single float32 texts (queries)
    /// go through the cache.
    public func embed(_ texts: [String], precision: Precision = .float32) throws -> [[Float]] {
        let cacheable = texts.count == 1 && precision == .float32
        if cacheable, let v = queryCache.withLock({ $0.get(texts[0]) }) { return [v] }
        let e = try embedder()
        calls.add(1, ordering: .relaxed)
        self.texts.add(texts.count, ordering: .relaxed)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let vectors = e.embed(texts, precision: precision)
        embedNanoseconds.add(Int(DispatchTime.now().uptimeNanoseconds - t0), ordering: .relaxed)
        if cacheable { queryCache.withLock { $0.put(texts[0], vectors[0]) } }
        return vectors
    }

    /// Forgets cached query embeddings (benchmarks measure the model, not the cache).
    public func clearQueryCache() { queryCache.withLock { $0.vectors = [:] } }

    public var stats: Stats {
        state.withLock { s in
            Stats(directory: directory.path, loaded: s.embedder != nil, mappedBytes: s.embedder?.mappedBytes ?? 0,
                  loadSeconds: s.loadSeconds, calls: calls.load(ordering: .relaxed),
                  textsEmbedded: texts.load(ordering: .relaxed), lastError: s.error,
                  embedSeconds: Double(embedNanoseconds.load(ordering: .relaxed)) / 1e9,
                  queryCacheHits: queryCache.withLock { $0.hits }, queryCacheMisses: queryCache.withLock { $0.misses })
        }
    }
}
