// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fibfast",
    products: [
        .executable(name: "fibfast", targets: ["fibfast"]),
        .library(name: "FibfastCore", targets: ["FibfastCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries, linked through their pkg-config files.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf",
                       providers: [.apt(["libbpf-dev", "libelf-dev"])]),
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        // The header shared with bpf/ and the BPF object embedded as bytes
        // (generated/object_bytes.h is made by `make`; without it the build stops
        // with a message that says so).
        .target(name: "CFastPath"),
        .target(
            name: "FibfastCore",
            dependencies: [
                "CLibBPF", "CNetlink", "CFastPath",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fibfast",
            dependencies: [
                "FibfastCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tests drive processes and pipes from Dispatch callbacks; Swift 5
        // mode keeps that plain.
        .testTarget(name: "FibfastCoreTests", dependencies: ["FibfastCore"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "IntegrationTests", dependencies: ["FibfastCore"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
