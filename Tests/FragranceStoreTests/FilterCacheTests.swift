import HNSW
import XCTest
@testable import FragranceStore

/// The filter cache's bounds: entries, and the bytes of the bitsets it holds (a collection's
/// size in bits each), least recently used out first; an entry is valid for its generation.
final class FilterCacheTests: XCTestCase {
    private func evaluation(bits: Int) -> AttributeIndex.Evaluation { .init(allowed: Bitset(capacity: bits), estimated: 0) }

    func testEntriesAndBitsetBytesStayWithinTheirBounds() {
        let cache = FilterCache(maxEntries: 16, maxBytes: 1 << 20)
        for i in 0..<100 {
            cache.store("f\(i)", generation: 1, evaluation(bits: 1000))
            XCTAssertLessThanOrEqual(cache.size.entries, 16)
            if i % 3 == 0 { XCTAssertNotNil(cache.lookup("f0", generation: 1), "kept while in use") }
        }
        XCTAssertNotNil(cache.lookup("f99", generation: 1))
        XCTAssertNil(cache.lookup("f50", generation: 1), "evicted")
        XCTAssertNil(cache.lookup("f99", generation: 2), "another generation")

        let big = FilterCache(maxEntries: 1000, maxBytes: 1 << 20)
        for i in 0..<40 {
            big.store("b\(i)", generation: 1, evaluation(bits: 1 << 19))   // 64 KiB each
            XCTAssertLessThanOrEqual(big.size.bytes, 1 << 20)
        }
        XCTAssertGreaterThanOrEqual(big.size.entries, 5)
        big.store("huge", generation: 1, evaluation(bits: 8 << 20))   // 1 MiB: over an eighth of the bound
        XCTAssertNil(big.lookup("huge", generation: 1))
    }
}
