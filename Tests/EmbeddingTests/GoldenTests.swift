import CKernels
import Foundation
import XCTest
import TestSupport
@testable import Embedding

/// all-MiniLM-L6-v2 against the golden outputs of sentence-transformers (shared/golden).
final class GoldenTests: XCTestCase {
    static let repo = Repository.root
    static var modelDirectory: URL { Repository.modelDirectory }
    static let golden = repo.deletingLastPathComponent().appendingPathComponent("shared/golden/minilm_golden.jsonl")

    struct Line: Decodable {
        var id: Int
        var category: String
        var text: String
        var input_ids: [Int32]
        var embedding: [Float]
    }

    nonisolated(unsafe) static var embedder: TextEmbedder?

    func loadEmbedder() throws -> TextEmbedder {
        if let e = Self.embedder { return e }
        // Not skipped when missing: tools/setup fetches the model before the tests run.
        let e = try TextEmbedder(directory: Self.modelDirectory)
        Self.embedder = e
        return e
    }

    func goldenLines() throws -> [Line] {
        let text = try String(contentsOf: Self.golden, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
    }

    func testEveryGoldenInputTokenisesExactly() throws {
        let e = try loadEmbedder()
        let lines = try goldenLines()
        XCTAssertEqual(lines.count, 70)
        for l in lines {
            XCTAssertEqual(e.tokenizer.encode(l.text), l.input_ids, "input \(l.id) (\(l.category)): \(l.text.debugDescription)")
        }
    }

    func testEveryGoldenEmbeddingMatchesInOneBatchedCall() throws {
        let e = try loadEmbedder()
        let lines = try goldenLines()
        let vectors = e.embed(lines.map(\.text), batchSize: 32)
        var worstCosine: Float = 1, worstDiff: Float = 0
        defer { print("golden: worst cosine \(worstCosine), worst max |diff| \(worstDiff) over \(lines.count) inputs") }
        for (l, v) in zip(lines, vectors) {
            XCTAssertEqual(v.count, 384)
            var dot: Float = 0, maxDiff: Float = 0
            for j in 0..<384 {
                dot += v[j] * l.embedding[j]
                maxDiff = max(maxDiff, abs(v[j] - l.embedding[j]))
            }
            worstCosine = min(worstCosine, dot)
            worstDiff = max(worstDiff, maxDiff)
            XCTAssertGreaterThanOrEqual(dot, 0.9999, "input \(l.id) (\(l.category)) cosine")
            XCTAssertLessThan(maxDiff, 1e-4, "input \(l.id) (\(l.category)) max |diff|")
        }
    }

    /// Short texts (a query's handful of tokens) take the small-row linear kernel instead of
    /// sgemm: each golden input embedded alone matches its reference too.
    func testShortInputsEmbeddedAloneMatchTheGoldenOutputs() throws {
        let e = try loadEmbedder()
        let short = try goldenLines().filter { $0.input_ids.count <= 16 }
        XCTAssertGreaterThan(short.count, 5)
        for l in short {
            let v = e.embed(l.text)
            let dot = zip(v, l.embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            XCTAssertGreaterThanOrEqual(dot, 0.9999, "input \(l.id) (\(l.category)) cosine")
            XCTAssertLessThan(zip(v, l.embedding).map { abs($0 - $1) }.max()!, 1e-4, "input \(l.id) max |diff|")
        }
    }

    func testBatchingDoesNotChangeVectors() throws {
        let e = try loadEmbedder()
        let texts = try goldenLines().prefix(12).map(\.text)
        let batched = e.embed(texts, batchSize: 5)
        for (t, b) in zip(texts, batched) {
            let single = e.embed(t)
            XCTAssertLessThan(zip(single, b).map { abs($0 - $1) }.max()!, 1e-5, t)
        }
    }

    /// Bulk loads embed with int8 linear layers where the CPU has AVX-512 VNNI: every golden
    /// input stays close to its reference, and the vectors really come from the int8 path.
    func testInt8EmbeddingsStayCloseToTheGoldenOutputs() throws {
        guard fdb_q8_supported() != 0 else { throw XCTSkip("no AVX-512 VNNI: int8 runs float32 here") }
        let e = try loadEmbedder()
        let lines = try goldenLines()
        let quantised = e.embed(lines.map(\.text), batchSize: 32, precision: .int8)
        let exact = e.embed(lines.map(\.text), batchSize: 32)
        var worst: Float = 1, total: Float = 0, differs = 0
        for (l, (q, f)) in zip(lines, zip(quantised, exact)) {
            let cosine = zip(q, l.embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            worst = min(worst, cosine)
            total += cosine
            // The loosest inputs are the degenerate ones (empty, whitespace, lone punctuation).
            XCTAssertGreaterThanOrEqual(cosine, 0.98, "input \(l.id) (\(l.category)) int8 cosine")
            XCTAssertEqual(zip(q, q).reduce(Float(0)) { $0 + $1.0 * $1.1 }, 1, accuracy: 1e-4, "unit length")
            if zip(q, f).contains(where: { abs($0 - $1) > 1e-4 }) { differs += 1 }
        }
        let mean = total / Float(lines.count)
        print("golden int8: worst cosine \(worst), mean \(mean)")
        XCTAssertGreaterThanOrEqual(mean, 0.995, "mean int8 cosine")
        // A batch of more than 16 token rows takes the int8 kernels: its vectors differ from float32.
        XCTAssertGreaterThan(differs, lines.count / 2)
    }

    func testMissingOrBrokenModelFilesAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-model-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try TextEmbedder(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("tools/setup"), "\(error)")
        }
        try FileManager.default.copyItem(at: Self.modelDirectory.appendingPathComponent("vocab.txt"), to: dir.appendingPathComponent("vocab.txt"))
        for bad in [Data([1, 2, 3]), Data(repeating: 0xFF, count: 64), Data("\u{10}\0\0\0\0\0\0\0{\"a\":1}".utf8)] {
            try bad.write(to: dir.appendingPathComponent("model.safetensors"))
            XCTAssertThrowsError(try TextEmbedder(directory: dir)) { error in
                XCTAssertTrue("\(error)".contains("unusable"), "\(error)")
            }
        }
    }
}
