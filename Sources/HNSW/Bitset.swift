/// A fixed-universe set of small integers (record ids): the currency between the attribute
/// filter and the index. Word-wise AND/OR/NOT make compound filters cost microseconds.
@frozen
public struct Bitset: Sendable, Equatable {
    @usableFromInline var words: [UInt64]
    public let capacity: Int


    public init(capacity: Int) {
        self.capacity = capacity
        words = [UInt64](repeating: 0, count: (capacity + 63) >> 6)
    }

    /// Bits given as 64-bit words, least significant bit first; bits past `capacity` are dropped.
    public init(capacity: Int, words: [UInt64]) {
        precondition(words.count == (capacity + 63) >> 6, "\(words.count) words for \(capacity) bits")
        self.capacity = capacity
        self.words = words
        clearTail()
    }

    public static func full(capacity: Int) -> Bitset {
        var b = Bitset(capacity: capacity)
        for i in b.words.indices { b.words[i] = ~0 }
        b.clearTail()
        return b
    }

    @inlinable @inline(__always)
    public func contains(_ i: Int) -> Bool {
        guard i >= 0 && i < capacity else { return false }
        return words[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    @inlinable @inline(__always)
    public mutating func insert(_ i: Int) {
        precondition(i >= 0 && i < capacity, "bit \(i) outside capacity \(capacity)")
        words[i >> 6] |= 1 << UInt64(i & 63)
    }

    @inlinable @inline(__always)
    public mutating func remove(_ i: Int) {
        guard i >= 0 && i < capacity else { return }
        words[i >> 6] &= ~(1 << UInt64(i & 63))
    }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    public mutating func formIntersection(_ o: Bitset) {
        for i in words.indices { words[i] &= i < o.words.count ? o.words[i] : 0 }
    }

    public mutating func formUnion(_ o: Bitset) {
        for i in 0..<min(words.count, o.words.count) { words[i] |= o.words[i] }
        clearTail()
    }

    public mutating func subtract(_ o: Bitset) {
        for i in 0..<min(words.count, o.words.count) { words[i] &= ~o.words[i] }
    }

    public mutating func invert() {
        for i in words.indices { words[i] = ~words[i] }
        clearTail()
    }

    /// Same bits in a universe of another size (bits past the new capacity are dropped).
    public func resized(to newCapacity: Int) -> Bitset {
        var b = Bitset(capacity: newCapacity)
        for i in 0..<min(words.count, b.words.count) { b.words[i] = words[i] }
        b.clearTail()
        return b
    }

    /// Calls `body` for each member in increasing order.
    @inlinable @inline(__always)
    public func forEach(_ body: (Int) throws -> Void) rethrows {
        for (wi, w0) in words.enumerated() where w0 != 0 {
            var w = w0
            while w != 0 {
                try body(wi << 6 | w.trailingZeroBitCount)
                w &= w &- 1
            }
        }
    }

    public var members: [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        forEach { out.append($0) }
        return out
    }

    private mutating func clearTail() {
        let extra = words.count * 64 - capacity
        if extra > 0, !words.isEmpty { words[words.count - 1] &= ~UInt64(0) >> UInt64(extra) }
    }
}
