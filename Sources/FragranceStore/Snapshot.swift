import FragranceCore
import FragranceProtocol
import Foundation
import HNSW

/// A collection in one file: "FDBSNAP1" then one zstd frame (with zstd's content checksum)
/// holding the config, every record with its row id and vector, and the graph image, so a
/// restore needs no rebuild. Layout inside the frame, little-endian:
/// u32 len + config JSON | u64 n | n × (u32 rid, u32 len, record JSON, dim × f32) | graph image.
enum SnapshotFormat {
    static let magic = Array("FDBSNAP1".utf8)
}

extension Collection {
    /// Writes a consistent snapshot (taken under the read lock) to `url`, durably.
    public func snapshot(to url: URL) throws {
        let payload: [UInt8] = try lock.read {
            var out: [UInt8] = []
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
            let configJSON = try JSONEncoder.sorted.encode(config)
            put(UInt32(configJSON.count)); out += configJSON
            let rids = attributes.live.members
            put(UInt64(rids.count))
            try db.sqlLock.withLock {
                for rid in rids {
                    guard let r = try readRecordUnlocked(UInt32(rid)) else { continue }
                    let json = try JSONEncoder.sorted.encode(Record(id: r.id, attributes: r.attributes))
                    put(UInt32(rid)); put(UInt32(json.count)); out += json
                    let v = r.vector ?? []
                    guard v.count == config.dimension else { throw StoreError(.corrupt, "record '\(r.id)' has no stored vector") }
                    v.withUnsafeBytes { out += $0 }
                }
            }
            out += index.serialized()
            return out
        }
        let compressed: [UInt8]
        do { compressed = try Zstd.compress(payload, level: 3) } catch let e as ProtocolError { throw StoreError(e.code, "snapshot: \(e.message)") }
        let tmp = url.appendingPathExtension("tmp")
        try writeDurably(chunks: [SnapshotFormat.magic, compressed], to: tmp)
        guard rename(tmp.path, url.path) == 0 else { throw StoreError(.io, "rename to \(url.path): \(String(cString: strerror(errno)))") }
        syncDirectory(of: url)
    }
}

extension Database {
    /// Restores a snapshot as a new collection (named as in the snapshot, or `name`).
    /// Nothing is written unless the whole file checks out.
    @discardableResult
    public func restore(from url: URL, as name: String? = nil) throws -> Collection {
        let file: Data
        do { file = try Data(contentsOf: url) } catch { throw StoreError(.notFound, "cannot read snapshot \(url.path)") }
        guard file.count > 8, file.prefix(8).elementsEqual(SnapshotFormat.magic) else {
            throw StoreError(.corrupt, "\(url.lastPathComponent) is not a FragranceDB snapshot")
        }
        let payload: [UInt8]
        do { payload = try Zstd.decompress([UInt8](file.dropFirst(8))) }
        catch let e as ProtocolError { throw StoreError(e.code, "snapshot \(url.lastPathComponent): \(e.message)") }
        return try payload.withUnsafeBytes { raw -> Collection in
            var r = SnapshotReader(raw: raw)
            var config: CollectionConfig
            do { config = try JSONDecoder().decode(CollectionConfig.self, from: Data(try r.bytes(Int(try r.u32())))) }
            catch let e as StoreError { throw e } catch { throw StoreError(.corrupt, "snapshot config: \(error)") }
            if let name { config.name = name }
            guard let n = Int(exactly: try r.u64()), n <= raw.count else { throw StoreError(.corrupt, "snapshot record count is out of range") }
            var rows: [(UInt32, Record)] = []
            rows.reserveCapacity(min(n, raw.count / 8))
            for _ in 0..<n {
                let rid = try r.u32()
                var rec: Record
                do { rec = try JSONDecoder().decode(Record.self, from: Data(try r.bytes(Int(try r.u32())))) }
                catch let e as StoreError { throw e } catch { throw StoreError(.corrupt, "snapshot record: \(error)") }
                rec.vector = try r.floats(config.dimension)
                rows.append((rid, try config.schema.normalise(rec, dimension: config.dimension, requireVector: true)))
            }
            let graph: HNSWIndex
            do { graph = try HNSWIndex(serialized: UnsafeRawBufferPointer(rebasing: raw[r.offset...])) }
            catch { throw StoreError(.corrupt, "snapshot graph: \(error)") }
            guard graph.liveCount == rows.count, rows.allSatisfy({ graph.contains(label: $0.0) }) else {
                throw StoreError(.corrupt, "snapshot graph does not match its records")
            }
            let c = try createCollection(config)
            try c.load(rows: rows, graph: graph)
            return c
        }
    }
}

struct SnapshotReader {
    let raw: UnsafeRawBufferPointer
    var offset = 0

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= raw.count else { throw StoreError(.corrupt, "snapshot truncated at byte \(offset)") }
        defer { offset += n }
        return Array(raw[offset..<(offset + n)])
    }

    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try bytes(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try bytes(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
    mutating func floats(_ n: Int) throws -> [Float] {
        let b = try bytes(n * 4)
        return (0..<n).map { i in b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 4, as: Float.self) } }
    }
}
