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

    /// Writes an image made by `HNSWIndex.serialized()`.
    static func write(image payload: [UInt8], appliedSeq: Int64, to url: URL) throws {
        var header = magic
        withUnsafeBytes(of: UInt64(appliedSeq).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: checksum(payload).littleEndian) { header += $0 }
        let tmp = url.appendingPathExtension("tmp")
        try writeDurably(chunks: [header, payload], to: tmp)
        guard rename(tmp.path, url.path) == 0 else { throw StoreError(.io, "rename \(tmp.path): \(String(cString: strerror(errno)))") }
        syncDirectory(of: url)
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
    static func checksum(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { checksum($0) } }

    static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (p1, p2, p1 ^ p2, ~p1)
        @inline(__always) func mix(_ acc: UInt64, _ w: UInt64) -> UInt64 {
            let x = acc &+ w &* p2
            return ((x << 31) | (x >> 33)) &* p1
        }
        let n = raw.count
        var i = 0
        while i + 32 <= n {
            lanes.0 = mix(lanes.0, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            lanes.1 = mix(lanes.1, raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            lanes.2 = mix(lanes.2, raw.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            lanes.3 = mix(lanes.3, raw.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        var h = UInt64(n) &* p1 ^ lanes.0 ^ (lanes.1 << 1 | lanes.1 >> 63) ^ (lanes.2 << 7 | lanes.2 >> 57) ^ (lanes.3 << 12 | lanes.3 >> 52)
        while i < n {
            h = mix(h, UInt64(raw[i]))
            i += 1
        }
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
    for chunk in chunks {
        try chunk.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                guard n > 0 else { throw StoreError(.io, "write \(url.path): \(String(cString: strerror(errno)))") }
                off += n
            }
        }
    }
    guard fsync(fd) == 0 else { throw StoreError(.io, "fsync \(url.path): \(String(cString: strerror(errno)))") }
    done = true
}

func syncDirectory(of url: URL) {
    let fd = open(url.deletingLastPathComponent().path, O_RDONLY)
    if fd >= 0 {
        fsync(fd)
        close(fd)
    }
}
