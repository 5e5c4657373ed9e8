import CZstd
import FragranceProtocol

/// zstd one-shot compression and decompression (snapshots, the bundled catalogue, imports).
/// Failures are `CORRUPT` (damaged input) or `IO` (no memory for a context).
public enum Zstd {
    public static func compress(_ input: [UInt8], level: Int32) throws -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw ProtocolError(.io, "zstd: cannot create a context") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_compress2(cctx, o.baseAddress, o.count, i.baseAddress, i.count) }
        }
        guard ZSTD_isError(n) == 0 else { throw ProtocolError(.io, "zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        out.removeLast(out.count - n)
        return out
    }

    public static func decompress(_ input: [UInt8], limit: UInt64 = 1 << 36) throws -> [UInt8] {
        let size = ZSTD_getFrameContentSize(input, input.count)
        if size == UInt64.max { return try decompressStream(input, limit: limit) }   // ZSTD_CONTENTSIZE_UNKNOWN
        guard size < UInt64.max - 1 else { throw ProtocolError(.corrupt, "zstd frame is damaged or has no content size") }
        guard size <= limit else { throw ProtocolError(.corrupt, "zstd frame claims \(size) bytes") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_decompress(o.baseAddress, o.count, i.baseAddress, i.count) }
        }
        guard ZSTD_isError(n) == 0 else { throw ProtocolError(.corrupt, "zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        guard n == out.count else { throw ProtocolError(.corrupt, "zstd frame decoded to \(n) bytes, expected \(size)") }
        return out
    }

    /// Frames written by a stream (`zstd` reading a pipe) do not record their size.
    static func decompressStream(_ input: [UInt8], limit: UInt64) throws -> [UInt8] {
        guard let ds = ZSTD_createDStream() else { throw ProtocolError(.io, "zstd: cannot create a stream") }
        defer { ZSTD_freeDStream(ds) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        try input.withUnsafeBytes { i in
            var inBuf = ZSTD_inBuffer(src: i.baseAddress, size: i.count, pos: 0)
            var last = 0
            var complete = false
            repeat {
                let produced = try chunk.withUnsafeMutableBytes { o -> Int in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                    last = ZSTD_decompressStream(ds, &outBuf, &inBuf)
                    guard ZSTD_isError(last) == 0 else { throw ProtocolError(.corrupt, "zstd: \(String(cString: ZSTD_getErrorName(last)))") }
                    return outBuf.pos
                }
                out += chunk[..<produced]
                guard UInt64(out.count) <= limit else { throw ProtocolError(.corrupt, "zstd stream is over \(limit) bytes") }
                if last == 0 && inBuf.pos == inBuf.size { complete = true; break }   // every frame decoded and flushed
                if produced == 0 && inBuf.pos == inBuf.size { break }
            } while true
            guard complete else { throw ProtocolError(.corrupt, "zstd stream ends mid-frame") }
        }
        return out
    }
}
