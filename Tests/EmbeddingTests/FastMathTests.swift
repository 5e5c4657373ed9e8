import CKernels
import Foundation
import XCTest

/// The encoder's element-wise kernels (CKernels) against libm in double precision.
final class FastMathTests: XCTestCase {
    func testGELUMatchesLibmErfEverywhere() {
        let xs = stride(from: Float(-12), through: 12, by: 0.0007).map { $0 }   // not a multiple of 16: the tail runs too
        var y = xs
        fdb_gelu(&y, y.count)
        var worst = 0.0
        for (x, v) in zip(xs, y) {
            let want = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(v) - want) / max(1, abs(Double(x))))
        }
        XCTAssertLessThan(worst, 1e-6, "max |gelu - exact| / max(1, |x|)")
    }

    func testSoftmaxExpMatchesLibm() {
        // Rows [0, x]: the second output over the first is e^x, so each row checks one exp.
        let xs = stride(from: Float(-100), through: 0, by: 0.0013).map { $0 }
        var m = [Float]()
        for x in xs { m.append(0); m.append(x) }
        fdb_softmax_rows(&m, xs.count, 2)
        var worstRelative = 0.0
        for (i, x) in xs.enumerated() {
            let want: Double = exp(Double(x))
            let got: Double = Double(m[2 * i + 1]) / Double(m[2 * i])
            if want > 1e-30 { worstRelative = max(worstRelative, abs(got - want) / want) } else { XCTAssertLessThan(got, 1e-30) }
        }
        XCTAssertLessThan(worstRelative, 4e-6, "max relative error of exp")
    }

    func testSoftmaxAndLayerNormRowsOfEveryLength() {
        var rng = SystemRandomNumberGenerator()
        for cols in [1, 2, 15, 16, 17, 31, 33, 64, 100] {
            let rows = 3
            let input = (0..<rows * cols).map { _ in Float.random(in: -8...8, using: &rng) }
            var m = input
            fdb_softmax_rows(&m, rows, cols)
            for r in 0..<rows {
                let row = input[r * cols..<(r + 1) * cols].map(Double.init), top = row.max()!
                let e = row.map { exp($0 - top) }, sum = e.reduce(0, +)
                for j in 0..<cols { XCTAssertEqual(Double(m[r * cols + j]), e[j] / sum, accuracy: 1e-6, "softmax cols \(cols)") }
            }
        }
        for h in [16, 384, 20] {   // 20: not a multiple of 16, the portable path
            let input = (0..<2 * h).map { _ in Float.random(in: -3...3, using: &rng) }
            let w = (0..<h).map { _ in Float.random(in: 0.5...1.5, using: &rng) }, b = (0..<h).map { _ in Float.random(in: -1...1, using: &rng) }
            var x = input
            fdb_layernorm(&x, 2, h, w, b, 1e-12)
            for r in 0..<2 {
                let row = input[r * h..<(r + 1) * h].map(Double.init), mean = row.reduce(0, +) / Double(h)
                let inv = 1 / (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(h) + 1e-12).squareRoot()
                for j in 0..<h {
                    XCTAssertEqual(Double(x[r * h + j]), (row[j] - mean) * inv * Double(w[j]) + Double(b[j]), accuracy: 1e-5, "layernorm h \(h)")
                }
            }
        }
    }
}
