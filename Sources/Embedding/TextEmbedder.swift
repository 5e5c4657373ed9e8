import COpenBLAS
import Foundation

/// all-MiniLM-L6-v2 sentence embeddings in process: the same 384-d unit vectors
/// sentence-transformers produces (checked against shared/golden), with no Python and no ONNX.
/// Thread-safe: `embed` may be called concurrently (each call owns its buffers).
public final class TextEmbedder: Sendable {
    public static let dimension = 384
    public static let name = "minilm"

    public let directory: URL
    public let tokenizer: WordPieceTokenizer
    let model: MiniLM

    /// Loads `model.safetensors` (memory-mapped) and `vocab.txt` from `directory`.
    public init(directory: URL) throws {
        self.directory = directory
        let weights = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw EmbeddingError.modelMissing("no model.safetensors in \(directory.path)")
        }
        tokenizer = try WordPieceTokenizer(vocabulary: directory.appendingPathComponent("vocab.txt"))
        model = try MiniLM(SafeTensors(path: weights.path))
    }

    /// Mapped model bytes (shared with the page cache, not copied).
    public var mappedBytes: Int { model.weights.size }

    /// One unit vector per text, in order. Texts are sorted by length and run in batches of
    /// `batchSize`, so each batch does similar work.
    public func embed(_ texts: [String], batchSize: Int = 32, precision: Precision = .float32) -> [[Float]] {
        let ids = texts.map(tokenizer.encode)
        let order = ids.indices.sorted { ids[$0].count < ids[$1].count }
        var out = [[Float]](repeating: [], count: texts.count)
        for start in stride(from: 0, to: order.count, by: max(batchSize, 1)) {
            let batch = Array(order[start..<min(start + max(batchSize, 1), order.count)])
            for (i, v) in zip(batch, model.embed(batch.map { ids[$0] }, precision: precision)) { out[i] = v }
        }
        return out
    }

    public func embed(_ text: String) -> [Float] { embed([text])[0] }

    /// OpenBLAS threads for the whole process (its setting is global). One is the right
    /// choice on a small server where event loops need the other core.
    public static func setMathThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}

/// Arithmetic of the encoder's linear layers. `.int8` is for bulk loads: 3× float32's
/// sentences per thread where the CPU has AVX-512 VNNI (elsewhere it runs float32), mean
/// cosine 0.997 to float32.
public enum Precision: String, Sendable, CaseIterable {
    case float32, int8
}
