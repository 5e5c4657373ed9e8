import Foundation
import HNSW

/// `<collection>.hnsw`: a derivative of SQLite, never trusted blindly. Layout:
/// magic "FDBIDX01" | u64 applied log seq | u64 payload length | u64 checksum | payload (the
/// HNSW image). Written to a temp file, fsynced and renamed, so a crash leaves the old file or
/// the new one; a torn or foreign file fails the checksum and the index is rebuilt.
enum IndexFile {
    static let magic = Array("FDBIDX01".utf8)

    struct Loaded {
        var index: HNSWIndex
        var appliedSeq: Int64
    }

    enum Failure: Error, CustomStringConvertible {
        case missing, torn(String)
        var description: String {
            switch self {
            case .missing: return "no index file"
            case .torn(let why): return why
            }
        }
    }

    /// Streams the index's image into `<url>.tmp`, straight from the graph's arrays (no copy
    /// of the graph in memory), the checksum computed on the way and written into the header
    /// last. It reads the live graph, so the caller holds the collection's lock; the slow,
    /// lock-free part (fsync, rename) is `finish`.
    static func begin(_ index: HNSWIndex, appliedSeq: Int64, to url: URL) throws -> Pending {
        let tmp = url.appendingPathExtension("tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw StoreError(.io, "open \(tmp.path): \(String(cString: strerror(errno)))") }
        let pending = Pending(fd: fd, tmp: tmp, url: url)
        do {
            let length = index.imageBytes
            var header = magic
            withUnsafeBytes(of: UInt64(appliedSeq).littleEndian) { header += $0 }
            withUnsafeBytes(of: UInt64(length).littleEndian) { header += $0 }
            header += [UInt8](repeating: 0, count: 8)   // the checksum, once known
            try header.withUnsafeBytes { try pending.append($0) }
            var sum = StreamChecksum()
            try index.writeImage { piece in
                sum.update(piece)
                try pending.append(piece)
            }
            guard sum.count == length else { throw StoreError(.internalError, "index image was \(sum.count) bytes, expected \(length)") }
            var digest = sum.finish().littleEndian
            guard pwrite(fd, &digest, 8, 24) == 8 else { throw StoreError(.io, "write \(tmp.path): \(String(cString: strerror(errno)))") }
        } catch {
            pending.abandon()
            throw error
        }
        return pending
    }

    /// An index file written but not yet durable or in place.
    struct Pending: Sendable {
        let fd: Int32
        let tmp: URL, url: URL

        func append(_ raw: UnsafeRawBufferPointer) throws { try writeAll(fd, raw, path: tmp.path) }

        /// fsync, then rename over the old file: a crash leaves the old file or the new one.
        func finish() throws {
            guard fsync(fd) == 0 else {
                let why = String(cString: strerror(errno))
                abandon()
                throw StoreError(.io, "fsync \(tmp.path): \(why)")
            }
            close(fd)
            guard rename(tmp.path, url.path) == 0 else {
                unlink(tmp.path)
                throw StoreError(.io, "rename \(tmp.path): \(String(cString: strerror(errno)))")
            }
            syncDirectory(of: url)
        }

        /// No partial `.tmp` is left behind (a full disk, say).
        func abandon() {
            close(fd)
            unlink(tmp.path)
        }
    }

    static func read(_ url: URL) throws -> Loaded {
        guard FileManager.default.fileExists(atPath: url.path) else { throw Failure.missing }
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        guard data.count >= 32 else { throw Failure.torn("index file is \(data.count) bytes, shorter than its header") }
        return try data.withUnsafeBytes { raw -> Loaded in
            guard raw.prefix(8).elementsEqual(magic) else { throw Failure.torn("index file has a bad magic number") }
            let seq = Int64(bitPattern: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
            let length = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian
            let sum = raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian
            guard length == UInt64(raw.count - 32) else {
                throw Failure.torn("index file holds \(raw.count - 32) payload bytes, header says \(length)")
            }
            let payload = UnsafeRawBufferPointer(rebasing: raw[32...])
            guard checksum(payload) == sum else { throw Failure.torn("index file checksum mismatch") }
            do {
                return Loaded(index: try HNSWIndex(serialized: payload), appliedSeq: seq)
            } catch {
                throw Failure.torn("index image rejected: \(error)")
            }
        }
    }

    /// A fast non-cryptographic 64-bit hash over 8-byte words (four independent lanes, each
    /// multiply-rotate mixed); it catches torn writes and bit rot, not adversaries.
    static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var sum = StreamChecksum()
        sum.update(raw)
        return sum.finish()
    }
}

/// `IndexFile.checksum` fed piece by piece: 32-byte blocks across the lanes, the last
/// `count % 32` bytes one by one at the end, whatever the pieces' sizes.
struct StreamChecksum {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private var lanes: (UInt64, UInt64, UInt64, UInt64) = (Self.p1, Self.p2, Self.p1 ^ Self.p2, ~Self.p1)
    /// Bytes of a block not yet complete (fewer than 32).
    private var carry: [UInt8] = []
    private(set) var count = 0

    @inline(__always) private static func mix(_ acc: UInt64, _ w: UInt64) -> UInt64 {
        let x = acc &+ w &* p2
        return ((x << 31) | (x >> 33)) &* p1
    }

    private mutating func block(_ raw: UnsafeRawBufferPointer, at i: Int) {
        lanes.0 = Self.mix(lanes.0, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        lanes.1 = Self.mix(lanes.1, raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
        lanes.2 = Self.mix(lanes.2, raw.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
        lanes.3 = Self.mix(lanes.3, raw.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
    }

    mutating func update(_ raw: UnsafeRawBufferPointer) {
        count += raw.count
        var i = 0
        if !carry.isEmpty {
            let take = min(32 - carry.count, raw.count)
            carry += raw[0..<take]
            i = take
            guard carry.count == 32 else { return }
            carry.withUnsafeBytes { block($0, at: 0) }
            carry.removeAll(keepingCapacity: true)
        }
        while i + 32 <= raw.count {
            block(raw, at: i)
            i += 32
        }
        carry += raw[i...]
    }

    func finish() -> UInt64 {
        let (p1, p2) = (Self.p1, Self.p2)
        var h = UInt64(count) &* p1 ^ lanes.0 ^ (lanes.1 << 1 | lanes.1 >> 63) ^ (lanes.2 << 7 | lanes.2 >> 57) ^ (lanes.3 << 12 | lanes.3 >> 52)
        for b in carry { h = Self.mix(h, UInt64(b)) }
        h ^= h >> 33; h &*= p2; h ^= h >> 29
        return h
    }
}

/// Writes chunks to a new file and fsyncs it before returning. On failure (a full disk) the
/// partial file is removed, so no 0-byte or torn `.tmp` is left behind.
func writeDurably(chunks: [[UInt8]], to url: URL) throws {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw StoreError(.io, "open \(url.path): \(String(cString: strerror(errno)))") }
    var done = false
    defer {
        close(fd)
        if !done { unlink(url.path) }
    }
    for chunk in chunks { try chunk.withUnsafeBytes { try writeAll(fd, $0, path: url.path) } }
    guard fsync(fd) == 0 else { throw StoreError(.io, "fsync \(url.path): \(String(cString: strerror(errno)))") }
    done = true
}

/// Every byte of `raw` to `fd` (write(2) may take less than asked).
func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws {
    var off = 0
    while off < raw.count {
        let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
        guard n > 0 else { throw StoreError(.io, "write \(path): \(String(cString: strerror(errno)))") }
        off += n
    }
}

func syncDirectory(of url: URL) {
    let fd = open(url.deletingLastPathComponent().path, O_RDONLY)
    if fd >= 0 {
        fsync(fd)
        close(fd)
    }
}
