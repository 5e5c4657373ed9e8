// The index (de)serialises itself to one flat little-endian byte image. The store wraps it
// in a checksummed file; this reader still validates every offset so garbage cannot crash it.

public struct HNSWFormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension HNSWIndex {
    /// Version 2 appends the aliases (HNSWIndex+Duplicates.swift); version 3 holds the vectors
    /// at half precision with their scales and float32 hashes. Versions 1 and 2 (float32
    /// vectors) still load: their vectors are encoded on the way in.
    static let magic: [UInt8] = Array("FDBHNSW3".utf8)
    static let magicV2: [UInt8] = Array("FDBHNSW2".utf8)
    static let magicV1: [UInt8] = Array("FDBHNSW1".utf8)

    /// The whole image in memory (snapshots, tests). A save streams it with `writeImage`.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(imageBytes)
        writeImage { out.append(contentsOf: $0) }
        return out
    }

    /// Bytes `writeImage` hands over in all.
    public var imageBytes: Int {
        92 + count * (1 + 4 + 1 + 4) + upperPool.count * 4 + slotOfLabel.count * 4
            + count * (8 + 4 + dimension * 2 + (maxM0 + 1) * 4) + aliasCount * 8
    }

    /// The image piece by piece, in order (the arrays as they lie in memory): a save writes it
    /// to its file without a second, graph-sized copy in memory (issue #23: the copy was
    /// 170 MB of RSS at 100k × 384 for as long as the file took to write).
    public func writeImage(_ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var head = ByteWriter()
        head.append(HNSWIndex.magic)
        head.put(UInt32(dimension))
        head.put(UInt32(Metric.allCases.firstIndex(of: metric)!))
        head.put(UInt32(parameters.m)); head.put(UInt32(parameters.efConstruction)); head.put(UInt32(parameters.efSearch))
        head.put(parameters.seed); head.put(rngState)
        head.put(UInt64(count)); head.put(UInt64(deletedCount))
        head.put(Int32(entryPoint)); head.put(UInt32(maxLevel))
        head.put(UInt64(upperPool.count)); head.put(UInt64(slotOfLabel.count))
        try head.bytes.withUnsafeBytes(sink)
        try levels.withUnsafeBytes(sink)
        try labels.withUnsafeBytes(sink)
        try deleted.withUnsafeBytes(sink)   // a Bool is one byte, 0 or 1
        try upperOffset.withUnsafeBytes(sink)
        try upperPool.withUnsafeBytes(sink)
        try slotOfLabel.withUnsafeBytes(sink)
        try hashes.withUnsafeBytes(sink)
        try sink(UnsafeRawBufferPointer(start: scales, count: count * 4))
        try sink(UnsafeRawBufferPointer(start: vectors, count: count * dimension * 2))
        try sink(UnsafeRawBufferPointer(start: links0, count: count * (maxM0 + 1) * 4))
        var tail = ByteWriter()
        let shared = aliases.sorted { $0.key < $1.key }
        tail.put(UInt64(shared.reduce(0) { $0 + $1.value.count }))
        for (slot, extra) in shared {
            for label in extra { tail.put(UInt32(slot)); tail.put(label) }
        }
        try tail.bytes.withUnsafeBytes(sink)
    }

    public convenience init(serialized raw: UnsafeRawBufferPointer) throws {
        var r = ByteReader(raw)
        let magic = try r.bytes(8)
        let version = [HNSWIndex.magicV1, HNSWIndex.magicV2, HNSWIndex.magic].firstIndex { magic.elementsEqual($0) }.map { $0 + 1 } ?? 0
        guard version > 0 else { throw HNSWFormatError(description: "not an HNSW image (bad magic)") }
        let dim = Int(try r.get(UInt32.self))
        let metricIndex = Int(try r.get(UInt32.self))
        guard dim > 0, dim <= 65536, metricIndex < Metric.allCases.count else { throw HNSWFormatError(description: "bad dimension or metric") }
        let m = Int(try r.get(UInt32.self)), efc = Int(try r.get(UInt32.self)), efs = Int(try r.get(UInt32.self))
        guard m >= 2, m <= 1024 else { throw HNSWFormatError(description: "bad M \(m)") }
        let seed = try r.get(UInt64.self)
        self.init(dimension: dim, metric: Metric.allCases[metricIndex],
                  parameters: HNSWParameters(m: m, efConstruction: efc, efSearch: efs, seed: seed))
        rngState = try r.get(UInt64.self)
        let n = Int(try r.get(UInt64.self)), nDeleted = Int(try r.get(UInt64.self))
        let entry = try r.get(Int32.self), top = Int(try r.get(UInt32.self))
        let poolCount = Int(try r.get(UInt64.self)), labelCount = Int(try r.get(UInt64.self))
        let perNode = (version >= 3 ? dim * 2 + 12 : dim * 4) + (maxM0 + 1) * 4 + 10
        guard n >= 0, n <= r.remaining / max(perNode, 1), nDeleted <= n, top <= 15,
              poolCount <= r.remaining / 4, labelCount <= r.remaining / 4,
              (n == 0 && entry == -1) || (entry >= 0 && Int(entry) < n)
        else { throw HNSWFormatError(description: "header counts do not fit the image") }

        levels = Array(try r.bytes(n))
        labels = try r.array(UInt32.self, n)
        deleted = try r.bytes(n).map { $0 != 0 }
        upperOffset = try r.array(Int32.self, n)
        upperPool = try r.array(UInt32.self, poolCount)
        slotOfLabel = try r.array(Int32.self, labelCount)
        reserve(n)
        if version >= 3 {
            hashes = try r.array(UInt64.self, n)
            try r.copy(into: UnsafeMutableRawPointer(scales), count: n * 4)
            for s in 0..<n where !(scales[s] > 0 && scales[s].isFinite) { throw HNSWFormatError(description: "bad vector scale at slot \(s)") }
            try r.copy(into: UnsafeMutableRawPointer(vectors), count: n * dim * 2)
        } else {
            // float32 rows: hashed as they were given, then stored as halves.
            let rows = try r.bytes(n * dim * 4)
            hashes.reserveCapacity(n)
            try withUnsafeTemporaryAllocation(of: Float.self, capacity: dim) { buf in
                let v = buf.baseAddress!
                for s in 0..<n {
                    UnsafeMutableRawPointer(v).copyMemory(from: UnsafeRawBufferPointer(rebasing: rows).baseAddress! + s * dim * 4, byteCount: dim * 4)
                    if let bad = (0..<dim).first(where: { !v[$0].isFinite }) {
                        throw HNSWFormatError(description: "slot \(s) has a non-finite component at \(bad)")
                    }
                    hashes.append(vectorHash(v))
                    store(v, at: s)
                }
            }
        }
        try r.copy(into: UnsafeMutableRawPointer(links0), count: n * (maxM0 + 1) * 4)
        if version >= 2 {
            let shared = Int(try r.get(UInt64.self))
            guard shared <= r.remaining / 8 else { throw HNSWFormatError(description: "alias count does not fit the image") }
            for _ in 0..<shared {
                let slot = try r.get(UInt32.self), label = try r.get(UInt32.self)
                guard Int(slot) < n else { throw HNSWFormatError(description: "corrupt graph: alias of slot \(slot)") }
                aliases[Int32(slot), default: []].append(label)
            }
        }
        guard r.remaining == 0 else { throw HNSWFormatError(description: "\(r.remaining) trailing bytes") }
        count = n
        if searchesWithCodes { ensureCodes() }   // else the first write makes them
        entryPoint = entry
        maxLevel = top
        deletedCount = nDeleted
        labelsAreSlots = aliases.isEmpty && labels.enumerated().allSatisfy { Int($0.element) == $0.offset }
        try validateStructure()
        liveCount = slotOfLabel.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        for s in 0..<n where !deleted[s] { slotOfHash[hashes[s]] = Int32(s) }
    }

    private func validateStructure() throws {
        func bad(_ why: String) -> HNSWFormatError { HNSWFormatError(description: "corrupt graph: \(why)") }
        guard deleted.filter({ $0 }).count == deletedCount else { throw bad("deleted count") }
        for s in 0..<count {
            let lv = Int(levels[s])
            guard lv <= maxLevel else { throw bad("level of slot \(s)") }
            if lv > 0 {
                let off = Int(upperOffset[s])
                guard off >= 0, off + lv * (maxM + 1) <= upperPool.count else { throw bad("upper offset of slot \(s)") }
            }
            for l in 0...lv {
                if l == 0 {
                    guard Int(level0(s)[0]) <= maxM0 else { throw bad("link count of slot \(s)") }
                } else {
                    guard Int(upperPool[Int(upperOffset[s]) + (l - 1) * (maxM + 1)]) <= maxM else { throw bad("link count of slot \(s)") }
                }
                for n in neighbors(s, level: l) where Int(n) >= count || Int(levels[Int(n)]) < l {
                    throw bad("link \(s) → \(n) at level \(l)")
                }
            }
        }
        // Every live node's labels map back to it, and the table holds nothing else.
        var mapped = 0
        for (label, s) in slotOfLabel.enumerated() where s >= 0 {
            guard Int(s) < count, !deleted[Int(s)] else { throw bad("label table at \(label)") }
            mapped += 1
        }
        func mapsBack(_ label: UInt32, _ s: Int) -> Bool { Int(label) < slotOfLabel.count && slotOfLabel[Int(label)] == Int32(s) }
        for s in 0..<count where !deleted[s] && !mapsBack(labels[s], s) { throw bad("label of slot \(s)") }
        for (s, extra) in aliases {
            guard !deleted[Int(s)], extra.allSatisfy({ mapsBack($0, Int(s)) && $0 != labels[Int(s)] }) else { throw bad("aliases of slot \(s)") }
        }
        guard mapped == count - deletedCount + aliasCount else { throw bad("label table holds \(mapped) labels") }
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append(_ b: [UInt8]) { bytes += b }
    mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
}

struct ByteReader {
    let raw: UnsafeRawBufferPointer
    var offset = 0
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
    var remaining: Int { raw.count - offset }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer.SubSequence {
        guard n >= 0, n <= remaining else { throw HNSWFormatError(description: "image truncated at byte \(offset)") }
        defer { offset += n }
        return raw[offset..<(offset + n)]
    }

    mutating func get<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let b = try bytes(MemoryLayout<T>.size)
        return T(littleEndian: UnsafeRawBufferPointer(rebasing: b).loadUnaligned(as: T.self))
    }

    mutating func array<T: FixedWidthInteger>(_: T.Type, _ n: Int) throws -> [T] {
        let b = try bytes(n * MemoryLayout<T>.size)
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: b))
            initialized = n
        }
    }

    mutating func copy(into dst: UnsafeMutableRawPointer, count n: Int) throws {
        let b = try bytes(n)
        if n > 0 { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: b).baseAddress!, byteCount: n) }
    }
}
