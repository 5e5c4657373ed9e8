import CKernels
import COpenBLAS
import Foundation
import Synchronization

/// The 6-layer BERT encoder of all-MiniLM-L6-v2 (hidden 384, 12 heads × 32, FFN 1536,
/// post-LayerNorm, exact-erf GELU), run on OpenBLAS sgemm over weights mapped from
/// `model.safetensors`. Sequences of a batch are packed row after row (no padding): linear
/// layers see all tokens at once, attention runs per sequence and head on strided views.
///
/// `Precision.int8` runs the linear layers on int8 weights and dynamically quantised inputs
/// (AVX-512 VNNI): 3× float32's sentences per thread (embed-bench), mean cosine 0.997 to
/// float32 (worst 0.984, on empty or punctuation-only text; GoldenTests). Queries and the
/// golden path stay float32.
final class MiniLM: @unchecked Sendable {
    static let hidden = 384, heads = 12, headDim = 32, layerCount = 6, ffn = 1536, maxPositions = 512
    static let eps: Float = 1e-12

    struct Layer {
        var q, qb, k, kb, v, vb, o, ob, ln1w, ln1b, w1, b1, w2, b2, ln2w, ln2b: UnsafePointer<Float>
    }

    let weights: SafeTensors   // keeps the mapping alive
    let wordEmbeddings, positionEmbeddings, typeEmbeddings, embeddingNormW, embeddingNormB: UnsafePointer<Float>
    let layers: [Layer]
    let vocabularySize: Int
    /// Per layer: q, k, v, o, w1, w2 quantised, packed on first int8 use.
    private let quantised = Mutex<[[QuantisedMatrix]]?>(nil)

    final class QuantisedMatrix: @unchecked Sendable {   // immutable after packing
        let m: OpaquePointer
        init?(_ w: UnsafePointer<Float>, out: Int, in: Int) {
            guard let m = fdb_q8_pack(w, out, `in`) else { return nil }
            self.m = m
        }
        deinit { fdb_q8_free(m) }
    }

    /// The int8 weights, or nil where this CPU cannot run them.
    private func quantisedLayers() -> [[QuantisedMatrix]]? {
        guard fdb_q8_supported() != 0 else { return nil }
        return quantised.withLock { cached in
            if let c = cached { return c }
            let h = Self.hidden, f = Self.ffn
            let packed = layers.compactMap { l -> [QuantisedMatrix]? in
                let ms = [(l.q, h, h), (l.k, h, h), (l.v, h, h), (l.o, h, h), (l.w1, f, h), (l.w2, h, f)]
                    .compactMap { QuantisedMatrix($0.0, out: $0.1, in: $0.2) }
                return ms.count == 6 ? ms : nil
            }
            guard packed.count == layers.count else { return nil }
            cached = packed
            return packed
        }
    }

    init(_ w: SafeTensors) throws {
        weights = w
        let h = Self.hidden, f = Self.ffn
        guard let vocab = w.tensors["embeddings.word_embeddings.weight"]?.shape.first else {
            throw EmbeddingError.badModel("\(w.path) has no word embeddings")
        }
        vocabularySize = vocab
        wordEmbeddings = try w.floats("embeddings.word_embeddings.weight", shape: [vocab, h])
        positionEmbeddings = try w.floats("embeddings.position_embeddings.weight", shape: [Self.maxPositions, h])
        typeEmbeddings = try w.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        embeddingNormW = try w.floats("embeddings.LayerNorm.weight", shape: [h])
        embeddingNormB = try w.floats("embeddings.LayerNorm.bias", shape: [h])
        layers = try (0..<Self.layerCount).map { i in
            let p = "encoder.layer.\(i)."
            return Layer(
                q: try w.floats(p + "attention.self.query.weight", shape: [h, h]), qb: try w.floats(p + "attention.self.query.bias", shape: [h]),
                k: try w.floats(p + "attention.self.key.weight", shape: [h, h]), kb: try w.floats(p + "attention.self.key.bias", shape: [h]),
                v: try w.floats(p + "attention.self.value.weight", shape: [h, h]), vb: try w.floats(p + "attention.self.value.bias", shape: [h]),
                o: try w.floats(p + "attention.output.dense.weight", shape: [h, h]), ob: try w.floats(p + "attention.output.dense.bias", shape: [h]),
                ln1w: try w.floats(p + "attention.output.LayerNorm.weight", shape: [h]), ln1b: try w.floats(p + "attention.output.LayerNorm.bias", shape: [h]),
                w1: try w.floats(p + "intermediate.dense.weight", shape: [f, h]), b1: try w.floats(p + "intermediate.dense.bias", shape: [f]),
                w2: try w.floats(p + "output.dense.weight", shape: [h, f]), b2: try w.floats(p + "output.dense.bias", shape: [h]),
                ln2w: try w.floats(p + "output.LayerNorm.weight", shape: [h]), ln2b: try w.floats(p + "output.LayerNorm.bias", shape: [h]))
        }
    }

    /// Mean-pooled, L2-normalised sentence vectors for already tokenised sequences.
    func embed(_ sequences: [[Int32]], precision: Precision = .float32) -> [[Float]] {
        let h = Self.hidden
        let lengths = sequences.map { min($0.count, Self.maxPositions) }
        let offsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let rows = offsets.last!
        guard rows > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }

        let x = Buffer(rows * h), q = Buffer(rows * h), k = Buffer(rows * h), v = Buffer(rows * h)
        let ctx = Buffer(rows * h), tmp = Buffer(rows * h), inter = Buffer(rows * Self.ffn)
        let maxLen = lengths.max()!
        let scores = Buffer(maxLen * maxLen)
        defer { [x, q, k, v, ctx, tmp, inter, scores].forEach { $0.free() } }

        // Embeddings: word + position + token type 0, then LayerNorm.
        for (s, seq) in sequences.enumerated() {
            for t in 0..<lengths[s] {
                let row = x.p + (offsets[s] + t) * h
                let id = Int(seq[t]) < vocabularySize && seq[t] >= 0 ? Int(seq[t]) : Int(WordPieceTokenizer.unk)
                let we = wordEmbeddings + id * h, pe = positionEmbeddings + t * h
                for j in 0..<h { row[j] = we[j] + pe[j] + typeEmbeddings[j] }
            }
        }
        layerNorm(x.p, rows: rows, weight: embeddingNormW, bias: embeddingNormB)

        let scale = 1 / Float(Self.headDim).squareRoot()
        // Short inputs stay float32: their linear layers are bound by reading the weights.
        let int8 = precision == .int8 && rows > Int(FDB_LINEAR_SMALL_ROWS) ? quantisedLayers() : nil
        for (li, layer) in layers.enumerated() {
            let qw = int8?[li]
            linear(x.p, rows: rows, inDim: h, weight: layer.q, bias: layer.qb, outDim: h, into: q.p, qw?[0])
            linear(x.p, rows: rows, inDim: h, weight: layer.k, bias: layer.kb, outDim: h, into: k.p, qw?[1])
            linear(x.p, rows: rows, inDim: h, weight: layer.v, bias: layer.vb, outDim: h, into: v.p, qw?[2])
            for s in 0..<sequences.count {
                let n = Int32(lengths[s]), base = offsets[s] * h
                for head in 0..<Self.heads {
                    let off = base + head * Self.headDim
                    // scores = Q·Kᵀ / √32 over this sequence and head (strided views, ld = 384)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, Int32(Self.headDim), scale,
                                q.p + off, Int32(h), k.p + off, Int32(h), 0, scores.p, n)
                    softmaxRows(scores.p, rows: Int(n), cols: Int(n))
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Int32(Self.headDim), n, 1,
                                scores.p, n, v.p + off, Int32(h), 0, ctx.p + off, Int32(h))
                }
            }
            linear(ctx.p, rows: rows, inDim: h, weight: layer.o, bias: layer.ob, outDim: h, into: tmp.p, qw?[3])
            addInPlace(x.p, tmp.p, rows * h)
            layerNorm(x.p, rows: rows, weight: layer.ln1w, bias: layer.ln1b)
            linear(x.p, rows: rows, inDim: h, weight: layer.w1, bias: layer.b1, outDim: Self.ffn, into: inter.p, qw?[4])
            gelu(inter.p, rows * Self.ffn)
            linear(inter.p, rows: rows, inDim: Self.ffn, weight: layer.w2, bias: layer.b2, outDim: h, into: tmp.p, qw?[5])
            addInPlace(x.p, tmp.p, rows * h)
            layerNorm(x.p, rows: rows, weight: layer.ln2w, bias: layer.ln2b)
        }

        // Mean over every token ([CLS] and [SEP] included), then unit length.
        return (0..<sequences.count).map { s in
            var out = [Float](repeating: 0, count: h)
            for t in 0..<lengths[s] {
                let row = x.p + (offsets[s] + t) * h
                for j in 0..<h { out[j] += row[j] }
            }
            let count = Float(max(lengths[s], 1))
            var norm: Float = 0
            for j in 0..<h { out[j] /= count; norm += out[j] * out[j] }
            let inv = 1 / max(norm.squareRoot(), 1e-12)
            return out.map { $0 * inv }
        }
    }

    /// y = x·Wᵀ + b with W stored [out, in].
    private func linear(_ x: UnsafePointer<Float>, rows: Int, inDim: Int, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>, outDim: Int, into y: UnsafeMutablePointer<Float>,
                        _ quantised: QuantisedMatrix? = nil) {
        if let qm = quantised, fdb_q8_linear(qm.m, x, rows, bias, y) == 1 { return }
        if fdb_linear_small(x, rows, inDim, weight, outDim, y) == 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outDim), Int32(inDim), 1,
                        x, Int32(inDim), weight, Int32(inDim), 0, y, Int32(outDim))
        }
        for r in 0..<rows {
            let row = y + r * outDim
            for j in 0..<outDim { row[j] += bias[j] }
        }
    }

    private func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        fdb_layernorm(x, rows, Self.hidden, weight, bias, Self.eps)
    }

    private func softmaxRows(_ m: UnsafeMutablePointer<Float>, rows: Int, cols: Int) { fdb_softmax_rows(m, rows, cols) }

    private func gelu(_ x: UnsafeMutablePointer<Float>, _ n: Int) { fdb_gelu(x, n) }

    private func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] += y[i] }
    }

    struct Buffer {
        let p: UnsafeMutablePointer<Float>
        init(_ n: Int) {
            p = .allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
        }
        func free() { p.deallocate() }
    }
}
