#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Dispatch
import Synchronization

/// Per slot: what turns an int8 code product back into a distance.
struct CodeInfo {
    var scale: Float
    var sum: Int32
    var squaredNorm: Float
    var unused: Float = 0   // 16 bytes, so the codes after it start 16-byte aligned
}

/// The distance from one fixed vector to any slot; the search loop is generic over it so
/// that queries (float) and construction (codes) share it without a call per distance.
protocol QueryDistance {
    func distance(to slot: Int) -> Float
    func prefetch(_ slot: Int)
    /// out[j] = distance(to: slots[j]) for j < n.
    func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>)
}

extension QueryDistance {
    /// Each vector prefetched two steps ahead, so that two are in flight while one is computed.
    @inline(__always) func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        for j in 0..<min(n, 2) { prefetch(Int(slots[j])) }
        for j in 0..<n {
            if j + 2 < n { prefetch(Int(slots[j + 2])) }
            out[j] = distance(to: Int(slots[j]))
        }
    }
}

/// A float32 query against the half-precision rows.
struct FloatQuery: QueryDistance {
    let q: UnsafePointer<Float>, rows: UnsafeMutablePointer<UInt16>, scales: UnsafeMutablePointer<Float>
    let dimension: Int, metric: Metric
    init(_ index: HNSWIndex, _ q: UnsafePointer<Float>) {
        self.q = q; rows = index.vectors; scales = index.scales; dimension = index.dimension; metric = index.metric
    }
    @inline(__always) func distance(to slot: Int) -> Float {
        metric.distance(q, row: rows + slot &* dimension, scale: scales[slot], dimension)
    }
    @inline(__always) func prefetch(_ slot: Int) {
        fdb_prefetch(rows + slot &* dimension)
        fdb_prefetch(scales + slot)
    }
}

struct CodeQuery: QueryDistance {
    let codes: UnsafeMutableRawPointer, infos: UnsafeMutablePointer<CodeInfo>, stride: Int, metric: Metric
    let q: UnsafePointer<Int8>, mine: CodeInfo
    init(_ index: HNSWIndex, slot: Int) {
        codes = index.codes; infos = index.codeInfos; stride = index.codeStride; metric = index.metric
        q = UnsafePointer((codes + slot &* stride).assumingMemoryBound(to: Int8.self))
        mine = infos[slot]
    }
    /// A query's own code (`codeStride` bytes) and info, for searching through the codes.
    init(_ index: HNSWIndex, code: UnsafePointer<Int8>, info: CodeInfo) {
        codes = index.codes; infos = index.codeInfos; stride = index.codeStride; metric = index.metric
        q = code
        mine = info
    }
    @inline(__always) private func distance(dot raw: Int32, _ other: CodeInfo) -> Float {
        let dot = Float(raw) * mine.scale * other.scale
        switch metric {
        case .cosine: return 1 - dot
        case .dot: return -dot
        case .l2: return max(0, mine.squaredNorm + other.squaredNorm - 2 * dot)
        }
    }
    @inline(__always) func distance(to slot: Int) -> Float {
        let other = infos[slot]
        let code = (codes + slot &* stride).assumingMemoryBound(to: Int8.self)
        return distance(dot: fdb_i8_dot(q, code, stride, other.sum), other)
    }
    @inline(__always) func prefetch(_ slot: Int) {
        fdb_prefetch_range(codes + slot &* stride, stride)
        fdb_prefetch(infos + slot)
    }
    /// One kernel call for the lot: the query's codes stay in registers across the rows.
    @inline(__always) func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(out)
        fdb_i8_dots(q, codes, stride, infos, MemoryLayout<CodeInfo>.stride, slots, n, raw.assumingMemoryBound(to: Int32.self))
        for j in 0..<n {
            let d = distance(dot: raw.load(fromByteOffset: j &* 4, as: Int32.self), infos[Int(slots[j])])
            raw.storeBytes(of: d, toByteOffset: j &* 4, as: Float.self)
        }
    }
}
