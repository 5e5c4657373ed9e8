// What every test target (and the tools beside them) shares: one seeded generator, scratch
// directories, and where the repository, the model weights and the built binaries are.
// Nothing here is product code.
import Foundation

/// SplitMix64: fast, seeded, the same stream on every machine (tests never seed from the clock).
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(_ seed: UInt64) { state = seed }
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Standard normal (Box–Muller).
    public mutating func gaussian() -> Float {
        let u1 = max(unit(), 1e-12), u2 = unit()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    public mutating func chance(_ p: Double) -> Bool { unit() < p }
    public mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
}

/// A TCP socket bound to a free port on 127.0.0.1, listening when `backlog` is given: a
/// stand-in server (one that never answers, or a fake primary). The caller closes `fd`.
public func loopbackSocket(listening backlog: Int32? = nil) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    if let backlog { listen(fd, backlog) }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A port on 127.0.0.1 that nothing listens on (free when asked).
public func freePort() -> Int {
    let (fd, port) = loopbackSocket()
    close(fd)
    return port
}

/// A fresh directory under the system's temporary directory, named after the test; `create`
/// false leaves making it to the code under test.
public func temporaryDirectory(_ name: String = #function, create: Bool = true) -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("fdb-\(name.filter { $0.isLetter || $0.isNumber || $0 == "-" })-\(UUID().uuidString.prefix(8))")
    if create { try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    return url
}

public enum Repository {
    /// The repository's root (this file is Tests/Support/TestSupport.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The MiniLM weights: `FRAGRANCEDB_MODEL_DIR`, else `models/all-MiniLM-L6-v2` (tools/setup fetches them).
    public static var modelDirectory: URL {
        ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"].map { URL(fileURLWithPath: $0) }
            ?? root.appendingPathComponent("models/all-MiniLM-L6-v2")
    }

    /// ../shared beside the repository (tests may read it; the product never does).
    public static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    /// An executable SwiftPM built beside the test bundle (`swift build --build-tests` builds them all).
    public static func builtProduct(_ name: String) -> URL? {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [here, Bundle.main.bundleURL.deletingLastPathComponent(), here.deletingLastPathComponent()] {
            let url = dir.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }
}

/// What Foundation's JSONEncoder writes with the options replies use (sorted keys, `/` as is,
/// non-finite floats as "inf", "-inf", "nan"): the reference SortedJSONEncoder must match.
public func foundationReplyJSON<T: Encodable>(_ value: T) throws -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try e.encode(value), as: UTF8.self)
}
