// Branch-free erf and exp for the encoder's GELU and softmax. libm's erff/expf cost ~10-20 ns
// per call and cannot be vectorised; GELU alone calls erf 1536 times per token per layer, which
// made it the largest cost of a forward pass (embed-bench). These are plain arithmetic loops
// the compiler vectorises; their error (< 1e-6 absolute over the range used, checked in
// FastMathTests) is far below what the golden tolerance of 1e-4 allows.

/// erf(x) as x·P(x²)/Q(x²) on [-4, 4] (clamped; erf is ±1 within 2e-8 beyond), the rational
/// approximation used for float erf by XLA and Eigen.
@inline(__always)
func fastErf(_ v: Float) -> Float {
    let x = min(max(v, -4), 4)
    let x2 = x * x
    var p: Float = -2.72614225801306e-10
    p = p * x2 + 2.77068142495902e-08
    p = p * x2 - 2.10102402082508e-06
    p = p * x2 - 5.69250639462346e-05
    p = p * x2 - 7.34990630326855e-04
    p = p * x2 - 2.95459980854025e-03
    p = p * x2 - 1.60960333262415e-02
    var q: Float = -1.45660718464996e-05
    q = q * x2 - 2.13374055278905e-04
    q = q * x2 - 1.68282697438203e-03
    q = q * x2 - 7.37332916720468e-03
    q = q * x2 - 1.42647390514189e-02
    return x * p / q
}

/// e^x for x ≤ 0 (softmax after subtracting the row maximum): 2^k · e^r with |r| ≤ ln2/2 and a
/// degree-6 Taylor polynomial for e^r; inputs below -87 give 0.
@inline(__always)
func fastExpNonPositive(_ v: Float) -> Float {
    let x = max(v, -87)
    let kf = x * 1.44269504088896341 + 0.5
    let k = Int32(kf)                    // truncation toward zero…
    let kk = Float(k) > kf ? k - 1 : k   // …made a floor, so kk = round(x·log2e)
    let r = x - Float(kk) * 0.693145751953125 - Float(kk) * 1.428606765330187e-06
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    return p * Float(bitPattern: UInt32(bitPattern: (kk + 127) << 23))
}
