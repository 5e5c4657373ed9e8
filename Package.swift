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
        .library(name: "Perfumery", targets: ["Perfumery"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // Optimised even in debug builds: the tests build real graphs, and -Onone numeric Swift is
        // 10-50x slower. (unsafeFlags are fine in a root package.)
        .target(name: "CKernels"),
        .target(name: "HNSW", dependencies: ["CKernels"], swiftSettings: [.unsafeFlags(["-O", "-wmo", "-num-threads", "2"])]),
        .target(name: "Embedding", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        // Small utilities every layer uses: strict JSON in, fast JSON out, vector text, zstd.
        .target(name: "FragranceCore", dependencies: ["CZstd", "FragranceProtocol"]),
        .target(name: "FragranceStore", dependencies: ["HNSW", "CKernels", "Embedding", "CSQLite", "FragranceCore", "FragranceProtocol"]),
        .target(name: "Perfumery", dependencies: ["FragranceStore", "FragranceCore", "FragranceProtocol"], resources: [
            .copy("Resources/perfumes.jsonl.zst"), .copy("Resources/materials.jsonl.zst"), .copy("Resources/ifra_standards.jsonl.zst"),
            .copy("Resources/notes.jsonl.zst"), .copy("Resources/note_synonyms.json"), .copy("Resources/derivations.json"),
            .copy("Resources/lexicon.json"), .copy("Resources/palette.json"), .copy("Resources/natural_constituents.jsonl.zst"),
            .copy("Resources/eu_fragrance_allergens.jsonl.zst"), .copy("Resources/eu_annex_iii_musks.jsonl.zst"),
        ], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "RAG", dependencies: ["FragranceStore", "FragranceCore", "Perfumery",
                                            .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                            .product(name: "NIOFoundationCompat", package: "swift-nio")]),
        .target(name: "FragranceProtocol"),
        .target(name: "FragranceServer", dependencies: [
            "FragranceStore", "HNSW", "CKernels", "FragranceCore", "FragranceProtocol", "Embedding", "Perfumery", "RAG",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ], resources: [.copy("Resources/openapi.yaml"), .copy("Resources/schemas"), .copy("Resources/web")]),
        .target(name: "FragranceClient", dependencies: [
            "FragranceProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
        ]),
        .executableTarget(
            name: "fragrancedb",
            dependencies: ["FragranceStore", "FragranceServer", "FragranceClient", "FragranceProtocol", "Embedding", "Perfumery",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Configuration", package: "swift-configuration"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio")]
        ),

        // A child process for the crash test: writes, prints each acknowledged id, gets killed.
        .executableTarget(name: "crash-writer", dependencies: ["FragranceStore", "TestSupport"], path: "Tests/CrashWriter"),
        .executableTarget(name: "index-bench", dependencies: ["FragranceStore", "HNSW", "Perfumery", "TestSupport"], path: "Benchmarks/IndexBench"),

        .executableTarget(name: "protocol-bench", dependencies: ["FragranceServer", "FragranceClient", "FragranceProtocol", "FragranceStore", "Perfumery", "TestSupport"],
                          path: "Benchmarks/ProtocolBench"),
        .executableTarget(name: "recipe-bench", dependencies: ["RAG", "Perfumery", "FragranceStore", "Embedding"], path: "Benchmarks/RecipeBench"),
        .executableTarget(name: "search-eval", dependencies: ["RAG", "Perfumery", "FragranceStore", "Embedding"], path: "Benchmarks/SearchEval",
                          exclude: ["make_queries.py", "queries.jsonl"]),
        .executableTarget(name: "facet-bench", dependencies: ["FragranceStore", "HNSW", "TestSupport"], path: "Benchmarks/FacetBench"),
        .executableTarget(name: "embed-bench", dependencies: ["Embedding"], path: "Benchmarks/EmbedBench"),
        // Issue #17's tools: a protocol fuzzer and a kill -9 loop, both against a real server process.
        .target(name: "BenchSupport", dependencies: ["TestSupport"], path: "Benchmarks/Support"),
        .executableTarget(name: "fuzz", dependencies: ["BenchSupport"], path: "Benchmarks/Fuzz"),
        // Issue #23: the line protocol beside hnswlib in process, on the same data (run.sh).
        .executableTarget(name: "vs-hnswlib", dependencies: ["BenchSupport", "COpenBLAS", "FragranceClient", "FragranceProtocol", "FragranceStore"],
                          path: "Benchmarks/VsHnswlib", exclude: ["hnswlib_side.py", "run.sh"]),
        .executableTarget(name: "crash-loop", dependencies: ["BenchSupport"], path: "Benchmarks/CrashLoop"),
        // One support target for every test target and the tools: generator, temp dirs, paths.
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(name: "HNSWTests", dependencies: ["HNSW", "CKernels", "TestSupport"]),
        .testTarget(name: "EmbeddingTests", dependencies: ["Embedding", "CKernels", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["FragranceServer", "TestSupport", "Perfumery", "FragranceCore", "FragranceProtocol", "FragranceStore", "FragranceClient", "Embedding",
                                                        .product(name: "JWTKit", package: "jwt-kit"), "RAG",
                                                        .product(name: "Hummingbird", package: "hummingbird"),
                                                        .product(name: "NIOCore", package: "swift-nio"),
                                                        .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "FragranceStoreTests", dependencies: ["FragranceStore", "FragranceCore", "HNSW", "Embedding", "Perfumery", "TestSupport"]),
        .testTarget(name: "PerfumeryTests", dependencies: ["Perfumery", "FragranceCore", "FragranceProtocol", "FragranceStore", "Embedding", "RAG", "TestSupport"]),
    ]
)
