// Embedding throughput: the 1,000 sentences of shared/golden/bench_sentences.txt at batch 32,
// with 1 and 2 OpenBLAS threads; wall-clock and process-CPU sentences/s, model load time and
// peak memory. The anchor (sentence-transformers, same machine) is in shared/golden/README.md.
//   swift run -c release embed-bench [model-dir] [sentences-file]
import Embedding
import Foundation

func say(_ s: String) { print(s); fflush(nil) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}
func peakRSSMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

let args = CommandLine.arguments
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let modelDir = URL(fileURLWithPath: args.count > 1 ? args[1] : root.appendingPathComponent("models/all-MiniLM-L6-v2").path)
let sentencesFile = args.count > 2 ? args[2] : root.deletingLastPathComponent().appendingPathComponent("shared/golden/bench_sentences.txt").path
let sentences = try String(contentsOfFile: sentencesFile, encoding: .utf8).split(separator: "\n").map(String.init)
say("embed-bench: \(sentences.count) sentences, batch 32; load average \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")

let t0 = now()
let embedder = try TextEmbedder(directory: modelDir)
say(String(format: "model load: %.3f s (%.0f MB mapped)", now() - t0, Double(embedder.mappedBytes) / 1e6))
let tTok = now()
for s in sentences { _ = embedder.tokenizer.encode(s) }
say(String(format: "tokenizer alone: %.3f s for %d sentences", now() - tTok, sentences.count))

_ = embedder.embed(Array(sentences.prefix(128)))   // warm-up, as the anchor did
for threads in [1, 2] {
    TextEmbedder.setMathThreads(threads)
    var best = 0.0
    for run in 1...3 {
        let w0 = now(), c0 = cpuSeconds()
        _ = embedder.embed(sentences, batchSize: 32)
        let wall = now() - w0, cpu = cpuSeconds() - c0
        best = max(best, Double(sentences.count) / wall)
        say(String(format: "threads %d run %d: %.1f sentences/s wall, %.1f sentences per CPU-second (%.2f s wall, %.2f s CPU)",
                   threads, run, Double(sentences.count) / wall, Double(sentences.count) / cpu, wall, cpu))
    }
    say(String(format: "threads %d best: %.1f sentences/s", threads, best))
}
// int8 linear layers (bulk loads): throughput and agreement with float32 on the same sentences.
TextEmbedder.setMathThreads(1)
let reference = embedder.embed(sentences, batchSize: 32)
for threads in [1, 2] {
    TextEmbedder.setMathThreads(threads)
    var best = 0.0
    for run in 1...3 {
        let w0 = now(), c0 = cpuSeconds()
        let q = embedder.embed(sentences, batchSize: 32, precision: .int8)
        let wall = now() - w0, cpu = cpuSeconds() - c0
        best = max(best, Double(sentences.count) / wall)
        let cosines = zip(q, reference).map { zip($0, $1).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        say(String(format: "int8 threads %d run %d: %.1f sentences/s wall, %.1f per CPU-second; cosine to float32 min %.4f mean %.4f",
                   threads, run, Double(sentences.count) / wall, Double(sentences.count) / cpu,
                   cosines.min() ?? 0, cosines.reduce(0, +) / Float(max(cosines.count, 1))))
    }
    say(String(format: "int8 threads %d best: %.1f sentences/s", threads, best))
}
say(String(format: "single sentence (1 thread): %.1f ms", { () -> Double in
    TextEmbedder.setMathThreads(1)
    let t = now()
    for s in sentences.prefix(50) { _ = embedder.embed(s) }
    return (now() - t) / 50 * 1000
}()))
say(String(format: "peak RSS: %.0f MiB", peakRSSMiB()))
say("anchor: sentence-transformers (PyTorch) ≈ 68 sentences per CPU-second with one thread (shared/golden/README.md)")
