import Foundation

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
/// (name → dtype, shape, byte range) and the raw little-endian data. Tensors are read in place.
final class SafeTensors: @unchecked Sendable {
    struct Info {
        var dtype: String
        var shape: [Int]
        var start: Int, end: Int
    }

    let path: String
    let size: Int
    private let base: UnsafeMutableRawPointer
    private let dataStart: Int
    let tensors: [String: Info]

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw EmbeddingError.modelMissing("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 8 else { throw EmbeddingError.badModel("\(path) is empty or unreadable") }
        size = Int(st.st_size)
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw EmbeddingError.badModel("cannot map \(path)")
        }
        base = p
        let declared = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        guard declared > 0, declared <= UInt64(size - 8) else {
            munmap(p, size)
            throw EmbeddingError.badModel("\(path): header length \(declared) does not fit the file")
        }
        let headerLength = Int(declared)
        dataStart = 8 + headerLength
        let json = Data(bytes: p + 8, count: headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            munmap(p, size)
            throw EmbeddingError.badModel("\(path): the header is not a JSON object")
        }
        var infos: [String: Info] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let v = value as? [String: Any], let dtype = v["dtype"] as? String, let shape = v["shape"] as? [Int],
                  let offsets = v["data_offsets"] as? [Int], offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1],
                  offsets[1] <= size - dataStart
            else {
                munmap(p, size)
                throw EmbeddingError.badModel("\(path): tensor '\(name)' has a malformed entry")
            }
            infos[name] = Info(dtype: dtype, shape: shape, start: offsets[0], end: offsets[1])
        }
        tensors = infos
    }

    deinit { munmap(base, size) }

    /// A float32 tensor in place, checked for its shape. The mapping is page-aligned and the
    /// official writer 8-aligns the data, so the pointer is Float-aligned (checked anyway).
    func floats(_ name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        guard let info = tensors[name] else { throw EmbeddingError.badModel("\(path): no tensor '\(name)'") }
        guard info.dtype == "F32", info.shape == shape, info.end - info.start == shape.reduce(4, *) else {
            throw EmbeddingError.badModel("\(path): '\(name)' is \(info.dtype) \(info.shape), expected F32 \(shape)")
        }
        let p = base + dataStart + info.start
        guard Int(bitPattern: p) % 4 == 0 else { throw EmbeddingError.badModel("\(path): '\(name)' is not 4-byte aligned") }
        return UnsafePointer(p.assumingMemoryBound(to: Float.self))
    }
}

public enum EmbeddingError: Error, CustomStringConvertible, Sendable {
    case modelMissing(String)
    case badModel(String)

    public var description: String {
        switch self {
        case .modelMissing(let s): return "embedding model missing: \(s) (run tools/setup to fetch it)"
        case .badModel(let s): return "embedding model unusable: \(s)"
        }
    }
}
