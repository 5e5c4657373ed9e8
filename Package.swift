// swift-tools-version:6.0
import PackageDescription

// Layering (see README "Modules"): HNSW has no dependencies of ours; FragranceStore builds
// on HNSW and the C libraries; the executable only parses arguments and wires things up.
let package = Package(
    name: "FragranceDB",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fragrancedb", targets: ["fragrancedb"]),
        .library(name: "FragranceStore", targets: ["FragranceStore"]),
        .library(name: "HNSW", targets: ["HNSW"]),
        .library(name: "Embedding", targets: ["Embedding"]),
        .library(name: "FragranceClient", targets: ["FragranceClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // Optimised even in debug builds: the tests build real graphs, and -Onone numeric Swift is
        // 10-50x slower. (unsafeFlags are fine in a root package.)
        .target(name: "CKernels"),
        .target(name: "HNSW", dependencies: ["CKernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Embedding", dependencies: ["COpenBLAS"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "FragranceStore", dependencies: ["HNSW", "Embedding", "CSQLite", "CZstd"]),
        .target(name: "FragranceProtocol"),
        .target(name: "FragranceServer", dependencies: [
            "FragranceStore", "FragranceProtocol", "Embedding",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
        ]),
        .target(name: "FragranceClient", dependencies: [
            "FragranceProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
        ]),
        .executableTarget(
            name: "fragrancedb",
            dependencies: ["FragranceStore", "FragranceServer", "FragranceClient", "FragranceProtocol", "Embedding",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // A child process for the crash test: writes, prints each acknowledged id, gets killed.
        .executableTarget(name: "crash-writer", dependencies: ["FragranceStore"], path: "Tests/CrashWriter"),
        .executableTarget(name: "index-bench", dependencies: ["FragranceStore", "HNSW"], path: "Benchmarks/IndexBench"),

        .executableTarget(name: "protocol-bench", dependencies: ["FragranceServer", "FragranceClient", "FragranceStore"],
                          path: "Benchmarks/ProtocolBench"),
        .executableTarget(name: "embed-bench", dependencies: ["Embedding"], path: "Benchmarks/EmbedBench"),
        .testTarget(name: "HNSWTests", dependencies: ["HNSW"]),
        .testTarget(name: "EmbeddingTests", dependencies: ["Embedding"]),
        .testTarget(name: "ServerTests", dependencies: ["FragranceServer", "FragranceProtocol", "FragranceStore", "FragranceClient",
                                                        .product(name: "NIOCore", package: "swift-nio"),
                                                        .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "FragranceStoreTests", dependencies: ["FragranceStore", "HNSW", "Embedding"]),
    ]
)
