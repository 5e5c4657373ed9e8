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
    }

    public let directory: URL
    private let state = Mutex<(embedder: TextEmbedder?, loadSeconds: Double, error: String?)>((nil, 0, nil))
    private let calls = Atomic<Int>(0)
    private let texts = Atomic<Int>(0)

    public init(directory: URL) { self.directory = directory }

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

    /// Embeds texts with the shared model, counting the use.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        let e = try embedder()
        calls.add(1, ordering: .relaxed)
        self.texts.add(texts.count, ordering: .relaxed)
        return e.embed(texts)
    }

    public var stats: Stats {
        state.withLock { s in
            Stats(directory: directory.path, loaded: s.embedder != nil, mappedBytes: s.embedder?.mappedBytes ?? 0,
                  loadSeconds: s.loadSeconds, calls: calls.load(ordering: .relaxed),
                  textsEmbedded: texts.load(ordering: .relaxed), lastError: s.error)
        }
    }
}
