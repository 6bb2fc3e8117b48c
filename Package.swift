// swift-tools-version: 6.2
import PackageDescription

/// One list of settings for every target: Swift 6 language mode (strict concurrency), explicit
/// `any` for existentials, and members visible only from modules a file imports itself (so a file
/// compiles because of what it says, not because another file dragged a module in).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// swift-system's module, which swift-subprocess's API speaks (`FilePath`, `Errno`).
let systemPackage: Target.Dependency = .product(name: "SystemPackage", package: "swift-system")

let package = Package(
    name: "sutradhar",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sutradhar", targets: ["sutradhar"]),
        // What a front end (the CLI, an MCP server, a dashboard) depends on: one product.
        .library(name: "SutradharKit", targets: ["SutradharKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        // FilePath and errno for the code that calls the system itself (swift-subprocess uses it too).
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", exact: "0.12.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // OTLP/HTTP (protobuf) trace export only: the default traits would bring grpc-swift in.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // `swift package generate-documentation --target SutradharKit` (scripts/docs.sh): the DocC
        // catalog in Sources/SutradharKit/SutradharKit.docc. A command plugin: built only when asked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.4.0"),
    ],
    targets: [
        // libgit2 from Debian's libgit2-dev, found through pkg-config. Only GitMirror imports it.
        .systemLibrary(
            name: "CLibGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev", "pkg-config"])]
        ),
        .target(
            name: "GitMirror",
            dependencies: ["CLibGit2"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NixBuild",
            dependencies: [.product(name: "Subprocess", package: "swift-subprocess"), systemPackage],
            swiftSettings: swiftSettings
        ),
        // zlib from Debian's zlib1g-dev: DockerEngine inflates gzipped image archives as a stream.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev", "pkg-config"])]
        ),
        .target(
            name: "DockerEngine",
            dependencies: [
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // SQLite's own header (Debian's libsqlite3-dev, which GRDB links too), for the one
        // variadic call Swift cannot make: BuildCache's database durability settings.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev", "pkg-config"])]
        ),
        .target(
            name: "BuildCache",
            dependencies: ["CSQLite", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // Signed provenance: in-toto statements, SLSA and test-result predicates, DSSE envelopes
        // signed with Ed25519, the key file, CycloneDX SBOMs of nix closures. Knows no pipeline.
        .target(
            name: "Attestation",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Pipeline",
            dependencies: ["Yams"],
            swiftSettings: swiftSettings
        ),
        // Whether a build is reproducible: two builds of an output compared file by file (image
        // tarballs layer by layer, streaming), and diffoscope's report when it is installed.
        .target(
            name: "Reproduce",
            dependencies: [
                "DockerEngine",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                systemPackage,
            ],
            swiftSettings: swiftSettings
        ),
        // The vocabulary every layer above the engine speaks: a run's events and summary, their
        // JSON (encoded and decoded), the stable error codes and remedies. No I/O.
        .target(
            name: "RunEvents",
            swiftSettings: swiftSettings
        ),
        // Folders watched with inotify: one instance per process, events routed to each watcher.
        .target(
            name: "FileWatching",
            swiftSettings: swiftSettings
        ),
        // Runs a plan: checkout, stages in dependency order, cache, containers, attestations.
        .target(
            name: "Engine",
            dependencies: [
                "RunEvents", "Pipeline", "GitMirror", "NixBuild", "DockerEngine", "BuildCache", "Attestation", "Reproduce",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOCore", package: "swift-nio"),
                systemPackage,
            ],
            swiftSettings: swiftSettings
        ),
        // Every run's events on disk, indexed in SQLite: listing, following, timelines, retention.
        .target(
            name: "RunHistory",
            dependencies: ["RunEvents", "FileWatching", "BuildCache", "Attestation", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // A run's events as OpenTelemetry CI/CD spans, exported over OTLP/HTTP when the standard
        // OTEL_* variables name an endpoint.
        .target(
            name: "RunTracing",
            dependencies: [
                "RunEvents",
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one way a run is started by any front end: record, run, trace, register for shutdown.
        .target(
            name: "Launcher",
            dependencies: ["RunEvents", "Engine", "Pipeline", "RunHistory", "RunTracing"],
            swiftSettings: swiftSettings
        ),
        // Keeping a machine healthy: doctor, cache listing/sizing/verification/gc and their reports.
        .target(
            name: "Maintenance",
            dependencies: [
                "RunEvents", "Engine", "RunHistory", "Pipeline", "GitMirror", "NixBuild", "DockerEngine", "BuildCache",
                .product(name: "Subprocess", package: "swift-subprocess"),
                systemPackage,
            ],
            swiftSettings: swiftSettings
        ),
        // What the history says: per-pipeline trends, cache effectiveness, reproducibility findings.
        .target(
            name: "Insights",
            dependencies: ["RunEvents", "RunHistory", "BuildCache", "Maintenance"],
            swiftSettings: swiftSettings
        ),
        // Runs nobody starts by hand: nightly rebuilds and their report, systemd timers, watch mode.
        .target(
            name: "Automation",
            dependencies: [
                "RunEvents", "FileWatching", "Engine", "Launcher", "Insights", "Pipeline", "GitMirror", "BuildCache", "DockerEngine",
                .product(name: "Subprocess", package: "swift-subprocess"),
                systemPackage,
            ],
            swiftSettings: swiftSettings
        ),
        // A pipeline as Kubernetes manifests (a rootless CronJob), rendered as YAML text.
        .target(
            name: "KubeRendering",
            dependencies: ["RunEvents", "Engine", "Pipeline", "Automation"],
            swiftSettings: swiftSettings
        ),
        // Checking attestations: the public key, offline verification, an image against its subject.
        .target(
            name: "Verification",
            dependencies: ["RunEvents", "Attestation", "DockerEngine", "Engine"],
            swiftSettings: swiftSettings
        ),
        // The library boundary: re-exports what a front end needs and holds the logic every
        // front end shares (cache root, pipeline lookup, triggers, a run as a stream of events).
        .target(
            name: "SutradharKit",
            dependencies: [
                "RunEvents", "FileWatching", "Engine", "Pipeline", "RunHistory", "Launcher", "BuildCache", "Attestation", "GitMirror",
                "Maintenance", "Insights", "Automation", "KubeRendering", "Verification", "RunTracing",
            ],
            swiftSettings: swiftSettings
        ),
        // The MCP front end: tool definitions, schemas and handlers, thin over SutradharKit.
        .target(
            name: "SutradharMCP",
            dependencies: [
                "SutradharKit",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Charts drawn on the server as SVG text: pure functions of typed series, no I/O.
        .target(
            name: "Charts",
            swiftSettings: swiftSettings
        ),
        // The dashboard front end: `sutradhar serve`, HTML pages, SSE, JSON API and
        // metrics on Hummingbird 2, thin over SutradharKit.
        .target(
            name: "SutradharDashboard",
            dependencies: [
                "SutradharKit",
                "Charts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sutradhar",
            dependencies: [
                "SutradharKit",
                "SutradharMCP",
                "SutradharDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SutradharTesting",
            swiftSettings: swiftSettings
        ),
        // A second front end, using only the library product: the proof that the boundary holds.
        .executableTarget(
            name: "sutradhar-kit-example",
            dependencies: ["SutradharKit"],
            path: "Examples/KitExample",
            swiftSettings: swiftSettings
        ),
        // Writes a run history for Benchmarks/dashboard-benchmark.sh through the library's recorder.
        .executableTarget(
            name: "sutradhar-history-generator",
            dependencies: ["SutradharKit"],
            path: "Benchmarks/HistoryGenerator",
            swiftSettings: swiftSettings
        ),
        // Compares two outputs for Benchmarks/reproduce-benchmark.sh through Reproduce alone.
        .executableTarget(
            name: "sutradhar-compare-benchmark",
            dependencies: ["Reproduce"],
            path: "Benchmarks/CompareBenchmark",
            swiftSettings: swiftSettings
        ),
        // Mirrors one source for Benchmarks/mirror-benchmark.sh through GitMirror alone.
        .executableTarget(
            name: "sutradhar-mirror-benchmark",
            dependencies: ["GitMirror"],
            path: "Benchmarks/MirrorBenchmark",
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "PipelineTests", dependencies: ["Pipeline"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "GitMirrorTests", dependencies: ["GitMirror", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "NixBuildTests", dependencies: ["NixBuild", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "DockerEngineTests", dependencies: ["DockerEngine", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "RunEvents", "Pipeline", "BuildCache", "DockerEngine", "NixBuild", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "EndToEndTests", dependencies: ["SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "BuildCacheTests", dependencies: ["BuildCache", "Engine", "RunEvents", "Maintenance", "RunHistory", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "HistoryTests", dependencies: ["Attestation", "RunHistory", "RunEvents", "Engine", "Insights", "Maintenance", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "SutradharKitTests", dependencies: ["SutradharKit", "Engine", "BuildCache", "Automation", "FileWatching", "Maintenance", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "MCPTests", dependencies: ["Attestation", "SutradharMCP", "SutradharKit", "SutradharTesting", .product(name: "MCP", package: "swift-sdk"), .product(name: "Logging", package: "swift-log")], exclude: ["Client"], swiftSettings: swiftSettings),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation", "SutradharTesting"], exclude: ["Verifiers"], swiftSettings: swiftSettings),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"], swiftSettings: swiftSettings),
        .testTarget(name: "DashboardTests", dependencies: ["Attestation", "SutradharDashboard", "SutradharKit", "GitMirror", "SutradharTesting", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types")], swiftSettings: swiftSettings),
        .testTarget(name: "BrowserTests", dependencies: ["SutradharTesting"], exclude: ["Browser"], swiftSettings: swiftSettings),
        .testTarget(name: "CallersTests", dependencies: ["Engine", "RunEvents", "FileWatching", "Automation", "GitMirror", "SutradharTesting"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "ReproduceTests", dependencies: ["Reproduce", "DockerEngine", "RunHistory", "SutradharTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "TracingTests", dependencies: ["RunTracing", "RunEvents", "Engine", "SutradharTesting", .product(name: "Tracing", package: "swift-distributed-tracing"), .product(name: "InMemoryTracing", package: "swift-distributed-tracing")], exclude: ["Receiver"], swiftSettings: swiftSettings),
        .testTarget(name: "KubeTests", dependencies: ["Engine", "Pipeline", "Automation", "KubeRendering", "SutradharTesting", "Yams"], exclude: ["Golden"], swiftSettings: swiftSettings),
    ]
)
