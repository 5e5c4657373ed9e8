// Distance kernels. On x86-64 the C kernels (AVX2+FMA when the CPU has them, chosen at run
// time); elsewhere Swift SIMD with `acc += x * y` rather than `addingProduct`, which at a
// baseline target lowers to one `fmaf` call per lane (25x slower, measured).
import CKernels

public enum Metric: String, Sendable, Codable, CaseIterable {
    case cosine, dot, l2
}

@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        let o = i &* 4
        s0 += ra.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            * rb.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
        s1 += ra.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self)
            * rb.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self)
        i &+= 32
    }
    var sum = (s0 + s1).sum()
    while i < n { sum += a[i] * b[i]; i &+= 1 }
    return sum
}

@inline(__always)
func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        let o = i &* 4
        let d0 = ra.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            - rb.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
        let d1 = ra.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self)
            - rb.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self)
        s0 += d0 * d0
        s1 += d1 * d1
        i &+= 32
    }
    var sum = (s0 + s1).sum()
    while i < n { let d = a[i] - b[i]; sum += d * d; i &+= 1 }
    return sum
}

extension Metric {
    /// Smaller is closer. Cosine vectors are stored unit-length, so cosine is `1 - dot`.
    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        #if arch(x86_64)
        switch self {
        case .cosine: return 1 - fdb_dot(a, b, n)
        case .dot: return -fdb_dot(a, b, n)
        case .l2: return fdb_l2sq(a, b, n)
        }
        #else
        switch self {
        case .cosine: return 1 - dotProduct(a, b, n)
        case .dot: return -dotProduct(a, b, n)
        case .l2: return squaredL2(a, b, n)
        }
        #endif
    }

    /// From a float query to a half-precision row (`scale` × its halves; CKernels/half.c).
    @inline(__always)
    func distance(_ q: UnsafePointer<Float>, row: UnsafePointer<UInt16>, scale: Float, _ n: Int) -> Float {
        switch self {
        case .cosine: return 1 - scale * fdb_h_dot(q, row, n)
        case .dot: return -scale * fdb_h_dot(q, row, n)
        case .l2: return fdb_h_l2sq(q, row, n, scale)
        }
    }

    /// The vector as the index stores it (unit length for cosine). The length is taken in
    /// double precision, so that very small or very large components still normalise.
    public func prepare(_ v: [Float]) -> [Float] {
        guard self == .cosine else { return v }
        let squared = v.reduce(0.0) { $0 + Double($1) * Double($1) }
        guard squared > 0 else { return v }
        let inverse = 1 / squared.squareRoot()
        return v.map { Float(Double($0) * inverse) }
    }

    /// Why this metric cannot rank `v` among others, or nil when it can. Components must be
    /// finite (checked by the caller). A zero vector has no direction: cosine cannot rank it
    /// at all, and as a dot query it ranks everything equal; l2 ranks the origin like any point.
    public func problem(with v: [Float], isQuery: Bool) -> String? {
        if let p = Metric.lengthProblem(v) { return p }
        guard v.allSatisfy({ $0 == 0 }) else { return nil }
        if self == .cosine { return "is all zeros (cosine similarity needs a direction)" }
        if self == .dot && isQuery { return "is all zeros (every record would score the same)" }
        return nil
    }

    /// Why no metric can rank `v`: float distances overflow once a squared length passes
    /// FLT_MAX/4, and underflow to nothing below the smallest normal float.
    public static func lengthProblem(_ v: [Float]) -> String? {
        let squared = v.reduce(0.0) { $0 + Double($1) * Double($1) }
        if squared > Double(Float.greatestFiniteMagnitude) / 4 {
            return "is too long (length \(squared.squareRoot()), at most \(maxLength)): its distances would overflow"
        }
        if squared > 0 && squared < Double(Float.leastNormalMagnitude) {
            return "is too short (length \(squared.squareRoot()), at least \(minLength) unless all zeros): its distances would underflow to zero"
        }
        return nil
    }

    static let maxLength = (Double(Float.greatestFiniteMagnitude) / 4).squareRoot()
    static let minLength = Double(Float.leastNormalMagnitude).squareRoot()
}
