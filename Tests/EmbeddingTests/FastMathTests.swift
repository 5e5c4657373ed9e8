import Foundation
import XCTest
@testable import Embedding

final class FastMathTests: XCTestCase {
    func testErfMatchesLibmEverywhereGELUUsesIt() {
        var worst: Float = 0
        var x: Float = -12
        while x <= 12 {
            worst = max(worst, abs(fastErf(x) - erff(x)))
            x += 0.0007
        }
        XCTAssertLessThan(worst, 1e-6, "max |fastErf - erff|")
    }

    func testExpMatchesLibmForSoftmaxInputs() {
        var worstRelative: Float = 0
        var x: Float = -100
        while x <= 0 {
            let want = expf(x)
            if want > 1e-30 { worstRelative = max(worstRelative, abs(fastExpNonPositive(x) - want) / want) }
            else { XCTAssertLessThan(fastExpNonPositive(x), 1e-30) }
            x += 0.0013
        }
        XCTAssertEqual(fastExpNonPositive(0), 1, accuracy: 1e-7)
        XCTAssertLessThan(worstRelative, 2e-6, "max relative error of fastExp")
    }
}
